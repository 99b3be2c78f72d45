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

import difflib
from dataclasses import dataclass
from pathlib import Path

import git
import yaml

from provenfix.jobs.errors import ConfigError, UsageError
from provenfix.jobs.gitrefs import resolve_commit
from provenfix.jobs.semgrep_stage import RepoRules
from provenfix.jobs.settings import (
    REPO_CONFIG_PATH,
    REPO_CONFIG_PATHS,
    AnalysisSettings,
    config_problems,
    load_repo_config,
)

REPO_SEMGREP_CONFIGS = (".semgrep.yml", ".semgrep.yaml", ".semgrep")
# Findings that come from ProvenFix itself rather than from a semgrep rule.
BUILTIN_RULES = frozenset(
    {
        "complexity-above-threshold",
        "complexity-increased",
        "maintainability-below-threshold",
        "test-failure",
    }
)


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


def settings_from_text(
    text: str | None, *, source: str, known_rules: frozenset[str] | None = None
) -> RepoSettings:
    """The settings in `text` (None: no config file, the defaults). With `known_rules`,
    a `rules.disable` id that is none of them is a problem too (a typo disables nothing)."""
    if text is None:
        return RepoSettings(AnalysisSettings(), "defaults")
    try:
        settings = load_repo_config(text, source=source)
    except ConfigError as exc:
        return RepoSettings(AnalysisSettings(), source, (str(exc),))
    unknown = sorted(settings.disabled_rules - known_rules) if known_rules is not None else []
    if unknown:
        problems = [_unknown_rule(rule, known_rules or frozenset()) for rule in unknown]
        return RepoSettings(AnalysisSettings(), source, (config_problems(source, problems),))
    return RepoSettings(settings, source)


def _unknown_rule(rule: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(rule, sorted(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else " (docs/configuration.md lists them)"
    return f"rules.disable: {rule!r} is not a rule id{hint}"


def read_repo_settings(repo: git.Repo, rev: str, *, rules_dir: Path | None = None) -> RepoSettings:
    """`.github/provenfix.yml` (or `.yaml`) at `rev`, or the defaults when there is none.
    With `rules_dir` (our semgrep rules), `rules.disable` is checked against the rule ids of
    those, of the repository's own semgrep config at `rev` and of ProvenFix's own."""
    tree = repo.commit(resolve_commit(repo, rev)).tree
    found = [name for name in REPO_CONFIG_PATHS if _has(tree, name)]
    if not found:
        return settings_from_text(None, source=REPO_CONFIG_PATH)
    where = f"{found[0]} at {rev}"
    if len(found) > 1:
        return RepoSettings(
            AnalysisSettings(), where, (f"both {' and '.join(found)} exist at {rev}; keep one",)
        )
    blob = tree / found[0]
    if blob.type != "blob":
        return RepoSettings(AnalysisSettings(), where, (f"{where} is a folder; make it a file",))
    text = blob.data_stream.read().decode("utf-8", errors="replace")
    known = known_rule_ids(rules_dir, repo, rev) if rules_dir is not None else None
    return settings_from_text(text, source=where, known_rules=known)


def read_settings_file(path: Path, *, known_rules: frozenset[str] | None = None) -> RepoSettings:
    """A settings file named on the command line (`--config`, the Action's `config`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the config file {path}: {reason}") from None
    return settings_from_text(text, source=str(path), known_rules=known_rules)


def known_rule_ids(rules_dir: Path, repo: git.Repo | None = None, rev: str = "") -> frozenset[str]:
    """Every rule id a finding can carry: ours (`rules_dir`), ProvenFix's built-in ones and,
    with `repo`, those of the repository's semgrep config at `rev`."""
    ids = set(BUILTIN_RULES)
    for path in sorted(p for p in rules_dir.rglob("*") if p.suffix in {".yaml", ".yml"}):
        ids |= _rule_ids(path.read_text(encoding="utf-8", errors="replace"))
    if repo is not None:
        tree = repo.commit(resolve_commit(repo, rev)).tree
        for name in REPO_SEMGREP_CONFIGS:
            if not _has(tree, name):
                continue
            entry = tree / name
            blobs = [entry] if entry.type == "blob" else list(entry.traverse())
            for blob in blobs:
                if isinstance(blob, git.Blob) and str(blob.path).endswith((".yml", ".yaml")):
                    ids |= _rule_ids(blob.data_stream.read().decode("utf-8", errors="replace"))
    return frozenset(ids)


def config_change_notice(repo: git.Repo, base: str, head: str) -> str | None:
    """When the change edits the config: it is read from the base until merged, say so."""
    base_tree = repo.commit(resolve_commit(repo, base)).tree
    head_tree = repo.commit(resolve_commit(repo, head)).tree
    for name in REPO_CONFIG_PATHS:
        before = (base_tree / name).hexsha if _has(base_tree, name) else None
        after = (head_tree / name).hexsha if _has(head_tree, name) else None
        if before != after:
            return (
                f"this change edits {name}; the analysis used the settings of the base (a "
                "change cannot relax the checks that judge it), so the new ones apply once "
                f"it is merged — try them now with `provenfix analyze --config {name}`"
            )
    return None


def _has(tree: git.Tree, path: str) -> bool:
    try:
        tree / path
    except KeyError:
        return False
    return True


def _rule_ids(text: str) -> set[str]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    rules = loaded.get("rules") if isinstance(loaded, dict) else None
    if not isinstance(rules, list):
        return set()
    return {str(rule["id"]) for rule in rules if isinstance(rule, dict) and "id" in rule}


def export_repo_semgrep(repo: git.Repo, rev: str, dest: Path) -> RepoRules | None:
    """Write the repository's semgrep config at `rev` under `dest`, if it has one."""
    tree = repo.commit(resolve_commit(repo, rev)).tree
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
