"""Shared fixtures: real git repositories built from file dictionaries."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
REPORT_SCHEMA = SHARED / "schemas" / "report-v1.schema.json"

FileTree = Mapping[str, str | bytes | None]  # None deletes the file


@dataclass(frozen=True)
class GitRepo:
    path: Path

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args],
            check=True,
            capture_output=True,
            text=True,
            env={
                "GIT_AUTHOR_NAME": "Test",
                "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "Test",
                "GIT_COMMITTER_EMAIL": "test@example.org",
                "HOME": str(self.path),
                "PATH": "/usr/bin:/bin",
            },
        ).stdout.strip()

    def write(self, files: FileTree) -> None:
        for name, content in files.items():
            target = self.path / name
            if content is None:
                self.git("rm", "-q", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")

    def commit(self, files: FileTree, message: str = "change") -> str:
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-B", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)


MakeRepo = Callable[..., GitRepo]


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
