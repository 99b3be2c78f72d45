"""The repository's own configuration: one reader, one error policy.

`.github/provenfix.yml` is always read at a trusted revision: the base of the
change (CLI, Action) or the default branch (App), never the pull request's head,
so a pull request cannot switch off the checks that judge it. Wherever the text
comes from (git here, GitHub's contents API in bot.rq_jobs, a `--config` file),
`settings_from_text` turns it into a `RepoSettings`: it never raises; a broken
file gives the defaults plus every problem, and the front end shows them where
its user reads them (the check run and job summary; the CLI, whose user is at the
keyboard, stops with exit 2 before analyzing anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from jobs.errors import ConfigError, UsageError
from jobs.semgrep_stage import RepoRules
from jobs.settings import REPO_CONFIG_PATH, AnalysisSettings, load_repo_config

REPO_SEMGREP_CONFIGS = (".semgrep.yml", ".semgrep.yaml", ".semgrep")


@dataclass(frozen=True)
class RepoSettings:
    settings: AnalysisSettings
    source: str  # e.g. ".github/provenfix.yml at 1a2b3c4d5e"; "defaults" when there is none
    problems: tuple[str, ...] = ()  # each a message naming the key; the defaults were used

    def notices(self) -> tuple[str, ...]:
        """The problems as the check run and job summary show them."""
        return tuple(
            f"{problem} — the defaults were used for this run" for problem in self.problems
        )

    def raise_problems(self) -> AnalysisSettings:
        """The settings, or ConfigError when the file was broken (the CLI's consequence)."""
        if self.problems:
            raise ConfigError("\n".join(self.problems))
        return self.settings


def settings_from_text(text: str | None, *, source: str) -> RepoSettings:
    """The settings in `text` (None: no config file, the defaults)."""
    if text is None:
        return RepoSettings(AnalysisSettings(), "defaults")
    try:
        return RepoSettings(load_repo_config(text, source=source), source)
    except ConfigError as exc:
        return RepoSettings(AnalysisSettings(), source, (str(exc),))


def read_repo_settings(repo: git.Repo, rev: str) -> RepoSettings:
    """`.github/provenfix.yml` at `rev`, or the defaults when there is none."""
    tree = repo.commit(rev).tree
    try:
        blob = tree / REPO_CONFIG_PATH
    except KeyError:
        return settings_from_text(None, source=REPO_CONFIG_PATH)
    if blob.type != "blob":
        where = f"{REPO_CONFIG_PATH} at {rev}"
        return RepoSettings(AnalysisSettings(), where, (f"{where} is a folder; make it a file",))
    text = blob.data_stream.read().decode("utf-8", errors="replace")
    return settings_from_text(text, source=f"{REPO_CONFIG_PATH} at {rev}")


def read_settings_file(path: Path) -> RepoSettings:
    """A settings file named on the command line (`--config`, the Action's `config`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the config file {path}: {reason}") from None
    return settings_from_text(text, source=str(path))


def export_repo_semgrep(repo: git.Repo, rev: str, dest: Path) -> RepoRules | None:
    """Write the repository's semgrep config at `rev` under `dest`, if it has one."""
    tree = repo.commit(rev).tree
    for name in REPO_SEMGREP_CONFIGS:
        try:
            entry = tree / name
        except KeyError:
            continue
        target = dest / name.lstrip(".")
        if entry.type == "blob":
            if not name.endswith((".yml", ".yaml")):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data_stream.read())
            return RepoRules(path=target, origin=name)
        if entry.type == "tree":
            written = 0
            for item in entry.traverse():
                if not isinstance(item, git.Blob):
                    continue
                item_path = str(item.path)
                if item_path.endswith((".yml", ".yaml")):
                    out = target / Path(item_path).relative_to(name)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(item.data_stream.read())
                    written += 1
            if written:
                return RepoRules(path=target, origin=f"{name}/")
    return None
