"""Who may run `/provenfix` commands and press the check run's buttons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

WRITE_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


class PermissionPolicy(Protocol):
    """Who may run `/provenfix` commands on a repository."""

    def can_write(self, repository: str, login: str, author_association: str) -> bool: ...


class AuthorAssociationPolicy:
    """Write access as GitHub reports it in the payload: the repository's owner, a member
    of its organization, or an invited collaborator. Answers without calling GitHub."""

    def can_write(self, repository: str, login: str, author_association: str) -> bool:
        return author_association.upper() in WRITE_ASSOCIATIONS


class CollaboratorPermissionPolicy:
    """Asks GitHub (`GET /repos/{repo}/collaborators/{login}/permission`) through a
    callable, e.g. one that uses an installation client; stricter than the association
    (an organization member may have read access only), at the price of an API call."""

    def __init__(self, permission_of: Callable[[str, str], str]) -> None:
        self._permission_of = permission_of  # (repository full name, login) -> permission

    def can_write(self, repository: str, login: str, author_association: str) -> bool:
        return self._permission_of(repository, login) in ("admin", "maintain", "write")
