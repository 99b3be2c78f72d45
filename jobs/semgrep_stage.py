"""semgrep stage: one semgrep run over every changed Python file.

Our bundled rules always run; the repository's own config (`.semgrep.yml` or
`.semgrep/`, read from the base revision) is added to the same invocation. If
that config is broken, the scan is repeated with our rules only and the
problem is reported under `skipped`, so a bad repo config never hides our
findings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provenfix.jobs.analyzer import AnalysisPart
from provenfix.jobs.errors import ToolFailure
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.report import Category, Finding, FindingSource, Severity, Skipped
from provenfix.jobs.snapshot import Snapshot

_SEVERITY = {
    "CRITICAL": Severity.ERROR,
    "ERROR": Severity.ERROR,
    "HIGH": Severity.ERROR,
    "WARNING": Severity.WARNING,
    "MEDIUM": Severity.WARNING,
    "INFO": Severity.INFO,
    "LOW": Severity.INFO,
    "INVENTORY": Severity.INFO,
    "EXPERIMENT": Severity.INFO,
}
_CONFIG_ERROR_EXIT = 7  # semgrep: invalid configuration


def semgrep_executable() -> str:
    beside_python = Path(sys.executable).parent / "semgrep"
    found = str(beside_python) if beside_python.exists() else shutil.which("semgrep")
    if not found:
        raise ToolFailure("semgrep is not installed; run scripts/setup or `pip install semgrep`")
    return found


def merged_rules_file(rules_dir: Path) -> Path:
    """All rule files of `rules_dir` as ONE file, cached by content.

    semgrep starts one engine process per rule file of a config folder; one
    merged file scans the same rules several seconds faster.
    """
    files = sorted(p for p in rules_dir.rglob("*") if p.suffix in {".yaml", ".yml"})
    blobs = [p.read_bytes() for p in files]
    digest = hashlib.sha256(b"\0".join(blobs)).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"provenfix-rules-{digest}.yaml"
    if target.exists():
        return target
    rules: list[Any] = []
    for path, blob in zip(files, blobs, strict=True):
        try:
            loaded = yaml.safe_load(blob)
        except yaml.YAMLError as exc:
            raise ToolFailure(f"bundled semgrep rules rejected: {path}: {exc}") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("rules"), list):
            raise ToolFailure(f"bundled semgrep rules rejected: {path} has no `rules:` list")
        rules.extend(loaded["rules"])
    partial = target.with_suffix(f".{os.getpid()}.part")
    partial.write_text(yaml.safe_dump({"rules": rules}, sort_keys=False), encoding="utf-8")
    os.replace(partial, target)
    return target


@dataclass(frozen=True)
class RepoRules:
    """The repository's own semgrep config, written out where semgrep can read it."""

    path: Path
    origin: str  # repo-relative name, for messages


class SemgrepAnalyzer:
    name = "semgrep"

    def __init__(
        self,
        rules_dir: Path,
        *,
        repo_rules: RepoRules | None = None,
        timeout_s: float = 300.0,
        executable: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`env`: what semgrep inherits (jobs.config.PipelineConfig.tool_environ); by default
        only PATH, so no credential of ours reaches it."""
        self._env = _semgrep_env(env or {"PATH": os.defpath})
        self._rules_dir = rules_dir
        self._merged: Path | None = None
        self._repo_rules = repo_rules
        self._timeout_s = timeout_s
        self._executable = executable

    def analyze(self, snapshot: Snapshot, fingerprint: Fingerprinter) -> AnalysisPart:
        targets = [f.change.path for f in snapshot.files]
        return self.start(snapshot.root, targets).result(snapshot, fingerprint)

    def start(self, root: Path, targets: Sequence[str]) -> SemgrepScan:
        """Starts scanning `targets` (paths relative to `root`) and returns at once."""
        return SemgrepScan(self, root, targets)

    def _configs(self) -> tuple[list[Path], list[Skipped]]:
        configs, skipped = [self._bundled_config()], []
        if self._repo_rules is not None:
            problem = _precheck_repo_rules(self._repo_rules.path)
            if problem:
                skipped.append(Skipped(self._repo_rules.origin, problem))
            else:
                configs.append(self._repo_rules.path)
        return configs, skipped

    def _bundled_config(self) -> Path:
        if self._merged is None:
            self._merged = merged_rules_file(self._rules_dir)
        return self._merged

    def rescan(self, root: Path, targets: Sequence[str]) -> list[dict[str, Any]]:
        """Raw semgrep results for files under `root` (bundled rules only)."""
        if not targets:
            return []
        output = self._scan(root, targets, [self._bundled_config()])
        return [r for r in output.get("results", []) if isinstance(r, dict)]

    def _scan(self, root: Path, targets: Sequence[str], configs: Sequence[Path]) -> Any:
        process = self._launch(root, targets, configs)
        return self._read(process, *_communicate(process, self._timeout_s))

    def _launch(
        self, root: Path, targets: Sequence[str], configs: Sequence[Path]
    ) -> subprocess.Popen[str]:
        command = [
            self._executable or semgrep_executable(),
            "scan",
            "--json",
            "--metrics=off",
            "--disable-version-check",
            "--no-git-ignore",
            "--no-rewrite-rule-ids",
            "--timeout",
            "30",
            "--timeout-threshold",
            "3",
            "--quiet",
        ]
        for config in configs:
            command += ["--config", str(config)]
        command += ["--", *targets]
        return subprocess.Popen(
            command,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env,
        )

    @staticmethod
    def _read(process: subprocess.Popen[str], stdout: str, stderr: str) -> Any:
        try:
            output = json.loads(stdout) if stdout.strip() else {}
        except json.JSONDecodeError:
            output = {}
        if process.returncode == _CONFIG_ERROR_EXIT or _has_rule_errors(output):
            raise _ConfigRejected(_first_error(output, stderr))
        if process.returncode not in (0, 1) or "results" not in output:
            raise ToolFailure(
                f"semgrep failed (exit {process.returncode}): {_first_error(output, stderr)}"
            )
        return output


class SemgrepScan:
    """One semgrep run, started before its result is wanted (jobs.early_scan).

    `result` matches it against the snapshot: results and errors of files the
    snapshot does not hold are dropped, files it holds that were not scanned are
    scanned then. The time budget counts from the start.
    """

    def __init__(self, analyzer: SemgrepAnalyzer, root: Path, targets: Sequence[str]) -> None:
        self._analyzer = analyzer
        self.root, self.targets = root, tuple(targets)
        self._deadline = time.monotonic() + analyzer._timeout_s
        self._configs: list[Path] = []
        self._skipped: list[Skipped] = []
        self._process: subprocess.Popen[str] | None = None
        if self.targets:
            self._begin()

    def _begin(self) -> None:
        self._configs, self._skipped = self._analyzer._configs()
        self._process = self._analyzer._launch(self.root, self.targets, self._configs)

    def result(self, snapshot: Snapshot, fingerprint: Fingerprinter) -> AnalysisPart:
        wanted = [f.change.path for f in snapshot.files]
        if not wanted:
            self.cancel()
            return AnalysisPart()
        if self._process is None:  # started on nothing: the snapshot's files, now
            self.root, self.targets = snapshot.root, tuple(wanted)
            self._begin()
        skipped = list(self._skipped)
        try:
            output = self._output(skipped)
            missing = [path for path in wanted if path not in self.targets]
            if missing:
                more = self._analyzer._scan(snapshot.root, missing, self._configs)
                output = {
                    "results": [*output.get("results", []), *more.get("results", [])],
                    "errors": [*output.get("errors", []), *more.get("errors", [])],
                }
        except subprocess.TimeoutExpired:
            budget = f"time budget: semgrep ran over {self._analyzer._timeout_s:.0f} s"
            return AnalysisPart(skipped=(*skipped, *(Skipped(t, budget) for t in wanted)))
        findings = [
            finding
            for result in output.get("results", [])
            if (finding := _to_finding(result, snapshot, fingerprint)) is not None
        ]
        left_out = set(self.targets) - set(wanted)
        skipped.extend(s for s in _target_errors(output) if s.path not in left_out)
        return AnalysisPart(findings=tuple(findings), skipped=tuple(skipped))

    def cancel(self) -> None:
        """Stops the run if it is still going (the analysis failed or has no file)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()  # `result` may be reading its pipes in another thread

    def _output(self, skipped: list[Skipped]) -> Any:
        assert self._process is not None
        timeout = max(self._deadline - time.monotonic(), 0.0)
        try:
            return self._analyzer._read(self._process, *_communicate(self._process, timeout))
        except _ConfigRejected as rejected:
            if len(self._configs) == 1:
                raise ToolFailure(f"bundled semgrep rules rejected: {rejected}") from None
            repo_rules = self._analyzer._repo_rules
            skipped.append(
                Skipped(
                    repo_rules.origin if repo_rules else "semgrep config",
                    f"repository semgrep config is invalid and was not used: {rejected}",
                )
            )
            self._configs = self._configs[:1]
            return self._analyzer._scan(self.root, self.targets, self._configs)


def _communicate(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Its stdout and stderr; killed (and TimeoutExpired) when it runs over `timeout`."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


class _ConfigRejected(Exception):
    pass


def _semgrep_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("SEMGREP_APP")}
    env.update(SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
    return env


def _precheck_repo_rules(path: Path) -> str | None:
    files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
    for file in files:
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            return f"repository semgrep config is not valid YAML ({exc.__class__.__name__})"
        if not isinstance(loaded, dict) or not isinstance(loaded.get("rules"), list):
            return "repository semgrep config has no `rules:` list and was not used"
    return None


def _has_rule_errors(output: Any) -> bool:
    return any(
        str(err.get("type", "")).lower().find("rule") >= 0 and err.get("level") == "error"
        for err in output.get("errors", [])
        if isinstance(err, dict)
    )


def _first_error(output: Any, stderr: str) -> str:
    for err in output.get("errors", []) if isinstance(output, dict) else []:
        if isinstance(err, dict) and err.get("message"):
            return " ".join(str(err["message"]).split())[:300]
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error message"


def _target_errors(output: Any) -> list[Skipped]:
    skipped: list[Skipped] = []
    for err in output.get("errors", []):
        if not isinstance(err, dict) or not err.get("path"):
            continue
        kind = str(err.get("type", "error"))
        if isinstance(err.get("type"), list):
            kind = str(err["type"][0])
        skipped.append(Skipped(str(err["path"]), f"semgrep could not fully scan it: {kind}"))
    return skipped


def _to_finding(result: Any, snapshot: Snapshot, fingerprint: Fingerprinter) -> Finding | None:
    versions = snapshot.file(str(result["path"]))
    if versions is None:
        return None
    extra = result.get("extra", {})
    metadata = extra.get("metadata") or {}
    start, end = int(result["start"]["line"]), int(result["end"]["line"])
    start_off, end_off = int(result["start"]["offset"]), int(result["end"]["offset"])
    code = versions.head.text.encode()[start_off:end_off].decode(errors="replace")
    function = versions.head.enclosing_function(start)
    rule_id = str(result["check_id"])
    return Finding(
        id=fingerprint(rule_id, versions.change.path, function, code),
        source=FindingSource.SEMGREP,
        rule_id=rule_id,
        category=_category(metadata),
        severity=_SEVERITY.get(str(extra.get("severity", "WARNING")).upper(), Severity.WARNING),
        path=versions.change.path,
        start_line=start,
        end_line=max(start, end),
        message=" ".join(str(extra.get("message", rule_id)).split()),
        function=function,
        fix=extra.get("fix"),
        fix_span=(start_off, end_off),
    )


def _category(metadata: Mapping[str, Any]) -> Category:
    raw = str(metadata.get("category", "")).lower()
    try:
        return Category(raw)
    except ValueError:  # repository rules use free-form categories
        return Category.SECURITY if "secur" in raw else Category.DEFECT
