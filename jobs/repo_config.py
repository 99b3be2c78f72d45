"""Reading a repository's own configuration out of git at a trusted revision."""

from __future__ import annotations

from pathlib import Path

import git

from jobs.semgrep_stage import RepoRules
from jobs.settings import REPO_CONFIG_PATH, AnalysisSettings, load_repo_config

REPO_SEMGREP_CONFIGS = (".semgrep.yml", ".semgrep.yaml", ".semgrep")


def read_repo_settings(repo: git.Repo, rev: str) -> AnalysisSettings:
    """`.github/provenfix.yml` at `rev`, or the defaults when there is none."""
    tree = repo.commit(rev).tree
    try:
        blob = tree / REPO_CONFIG_PATH
    except KeyError:
        return AnalysisSettings()
    text = blob.data_stream.read().decode("utf-8", errors="replace")
    return load_repo_config(text, source=f"{REPO_CONFIG_PATH} at {rev}")


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
