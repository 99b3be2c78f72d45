"""Shared fixtures: real git repositories built from file dictionaries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from repo_support import REPORT_SCHEMA, FileTree, GitRepo, MakeRepo

__all__ = ["FileTree", "GitRepo", "MakeRepo"]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """A repo with `main` = base files and, if given, branch `pr` = base + head files."""

    def make(base: FileTree, head: FileTree | None = None, name: str = "repo") -> GitRepo:
        repo = GitRepo(tmp_path / name)
        repo.path.mkdir()
        repo.git("init", "-q", "-b", "main")
        repo.commit(base, "base")
        if head is not None:
            repo.branch("pr")
            repo.commit(head, "pull request")
        return repo

    return make


@pytest.fixture(scope="session")
def report_validator() -> Callable[[Any], None]:
    schema = json.loads(REPORT_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)

    def validate(report: Any) -> None:
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

    return validate
