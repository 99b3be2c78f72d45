"""What a queued job is asked to do: frozen, picklable requests (no secrets in them).

rq stores each as the job's argument; the web process builds them from webhook
payloads (bot.events), the worker runs them (bot.rq_jobs, bot.apply_fixes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


def analysis_job_id(repository_id: int, number: int, head_sha: str) -> str:
    return f"provenfix-{repository_id}-{number}-{head_sha}"


@dataclass(frozen=True)
class PullRequestId:
    """Which pull request: the one identity every request, event and publisher shares."""

    owner: str
    repo: str
    number: int

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class PullRequestRef(PullRequestId):
    """A pull request at one head, measured against one base commit."""

    head_sha: str
    base_sha: str


@dataclass(frozen=True)
class JobRequest(PullRequestRef):
    """Everything a worker needs to analyze one pull request head (no secrets)."""

    installation_id: int
    repository_id: int
    base_ref: str
    default_branch: str
    clone_url: str  # the base repository; the head is fetched as refs/pull/N/head
    trigger: str  # e.g. "pull_request.opened", "check_run.rerequested"
    delivery_id: str = ""
    sender: str = ""
    updated_at: str = ""  # the pull request's updated_at (ISO 8601): orders deliveries
    delivered_at: str = ""  # when the webhook that asked for this analysis arrived (ISO 8601)

    @property
    def job_id(self) -> str:
        return analysis_job_id(self.repository_id, self.number, self.head_sha)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRequest:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class PullRequestTarget(PullRequestId):
    """A pull request known by number only (a comment command): the worker looks up its head."""

    installation_id: int
    repository_id: int
    default_branch: str
    clone_url: str
    trigger: str
    delivery_id: str = ""
    sender: str = ""
    delivered_at: str = ""


@dataclass(frozen=True)
class CommentReaction:
    """Acknowledge a command: a reaction (`+1`, `eyes`…) on the comment that gave it."""

    installation_id: int
    owner: str
    repo: str
    comment_id: int
    content: str


@dataclass(frozen=True)
class ApplyRequest(PullRequestId):
    """ "Apply proven fixes" was clicked on the check run of `head_sha` (no secrets)."""

    installation_id: int
    repository_id: int
    head_sha: str  # the head the check run analyzed
    check_run_id: int
    clone_url: str
    app_slug: str  # the commit's author is `<slug>[bot]`
    sender: str  # who clicked (the co-author)
    sender_id: int
    write_access: bool  # the webhook's permission policy vouched for the sender
    delivery_id: str = ""

    @property
    def job_id(self) -> str:
        return f"provenfix-apply-{self.repository_id}-{self.number}-{self.head_sha}"
