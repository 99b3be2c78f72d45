"""Real git repositories built from file dictionaries, for any test module."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACT = PROJECT_ROOT / "tests" / "fixtures" / "github-contract"  # vendored, see SOURCE.md
REPORT_SCHEMA = PROJECT_ROOT / "schemas" / "report-v2.schema.json"

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
