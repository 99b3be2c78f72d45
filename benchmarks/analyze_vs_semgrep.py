"""How much does `provenfix analyze` cost on top of the semgrep scan it wraps?

A real multi-file change: two consecutive releases of a pure-Python library,
fetched as sdists from PyPI and replayed as two commits of a git repository
(tags `base` and `head`). Then, interleaved and repeated:

  ours  `provenfix analyze --repo R --base base --head head --no-validate --format json`
        (a subprocess: interpreter start, diff, snapshot, semgrep + radon, filtering,
        candidate generation (semgrep autofixes, codemods; --no-validate generates the
        candidates and reports them unproven), JSON)
  bare  `semgrep scan` with the same flags and the same rules, in the same form the
        pipeline passes them (the bundled rules merged into one file, plus the
        repository's own), over the same files (the head versions of the changed
        Python files, written to a scratch folder as the pipeline writes them)

and prints the times, the ratio ours/bare (medians) against the target, the
pipeline's own stage durations, and a check that both saw the same semgrep
findings. Everything downloaded or built lives in benchmarks/.work/analysis/.
`compare(...)` is the measurement alone, for other benchmarks
(benchmarks/validation_speed.py prints it beside its own numbers).

    .venv/bin/python benchmarks/analyze_vs_semgrep.py [--package click
        --base-version 8.1.3 --head-version 8.1.7] [--rounds 5] [--rules DIR]

Exit status 0 whether the target is met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenfix.jobs.complexity import ComplexityAnalyzer, hotspots
from provenfix.jobs.config import BUNDLED_RULES_DIR, PipelineConfig
from provenfix.jobs.diff import Change, compute_change, open_repo
from provenfix.jobs.early_scan import write_scan_tree
from provenfix.jobs.errors import ToolFailure
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.generation.codemods import CodemodGenerator
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.repo_config import export_repo_semgrep, read_repo_settings
from provenfix.jobs.report import LineRange
from provenfix.jobs.semgrep_stage import (
    SemgrepAnalyzer,
    merged_rules_file,
    semgrep_executable,
)
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "analysis"
TARGET_RATIO = 1.10  # issue 17, part 4
DEFAULT_PACKAGE = ("click", "8.1.3", "8.1.7")  # 30+ Python files, ~900 added lines
SDIST_NOISE = ("PKG-INFO",)  # plus every *.egg-info folder
GIT_ENV = {
    "GIT_AUTHOR_NAME": "benchmark",
    "GIT_AUTHOR_EMAIL": "benchmark@example.org",
    "GIT_COMMITTER_NAME": "benchmark",
    "GIT_COMMITTER_EMAIL": "benchmark@example.org",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Exactly what jobs.semgrep_stage.SemgrepAnalyzer._scan passes before --config.
SEMGREP_FLAGS = (
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
)

Key = tuple[str, int, str]  # (path, line, rule id)


class BenchmarkError(Exception):
    """The benchmark could not run; the message says why."""


# --- 1. the two releases -------------------------------------------------------------


def fetch_sdist(package: str, version: str, work: Path) -> Path:
    """The sdist of package==version, from the cache or downloaded by pip."""
    folder = work / "sdists" / f"{package}-{version}"
    found = _sdists_in(folder)
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {package}=={version} (sdist) ...", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--no-binary", ":all:", "--dest", str(folder), f"{package}=={version}"]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        found = _sdists_in(folder)
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise BenchmarkError(f"pip download {package}=={version} failed: {' '.join(tail)}")
    return found[0]


def _sdists_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith((".tar.gz", ".zip")))


def unpack_sdist(sdist: Path, dest: Path) -> None:
    """The sdist's source tree, without its top folder and packaging metadata, in dest."""
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=dest.parent) as scratch:
        raw = Path(scratch)
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                archive.extractall(raw)
        else:
            with tarfile.open(sdist) as archive:
                archive.extractall(raw, filter="data")
        entries = list(raw.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else raw
        for noise in SDIST_NOISE:
            (top / noise).unlink(missing_ok=True)
        for egg_info in [p for p in top.rglob("*.egg-info") if p.is_dir()]:
            shutil.rmtree(egg_info)
        shutil.copytree(top, dest, symlinks=True, dirs_exist_ok=True)


# --- 2. the git history ---------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def build_repo(package: str, base: str, head: str, work: Path) -> Path:
    """A repository with the base release on main (tag base), the head one on top (tag head)."""
    repo = work / "repos" / f"{package}-{base}-to-{head}"
    if (repo / ".git").is_dir():
        try:
            git(repo, "rev-parse", "--verify", "--quiet", "base^{commit}", "head^{commit}")
            return repo
        except BenchmarkError:
            pass  # half-built by an interrupted run: start over
    base_sdist = fetch_sdist(package, base, work)
    head_sdist = fetch_sdist(package, head, work)
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    unpack_sdist(base_sdist, repo)
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{package} {base}")
    git(repo, "tag", "base")
    git(repo, "checkout", "--quiet", "-b", "release")
    git(repo, "rm", "-r", "--quiet", "--cached", ".")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    unpack_sdist(head_sdist, repo)
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{package} {head}")
    git(repo, "tag", "head")
    return repo


# --- 3. the two commands ------------------------------------------------------------


@dataclass
class BareTarget:
    """The scratch folder bare semgrep scans: what the pipeline's snapshot writes."""

    root: Path
    targets: list[str]
    configs: list[Path]
    added: dict[str, tuple[LineRange, ...]]
    lines_added: int


def prepare_bare_target(repo_path: Path, rules: Path, scratch: Path) -> BareTarget:
    repo = open_repo(repo_path)
    try:
        change = compute_change(repo, "base", "head")
        settings = read_repo_settings(repo, change.base_sha).settings
        snapshot = take_snapshot(change, settings, scratch / "head")
        # What the pipeline passes: a rules folder would cost semgrep one engine process
        # per rule file (seconds), a cost the pipeline never pays (merged_rules_file).
        configs = [merged_rules_file(rules)]
        repo_rules = export_repo_semgrep(repo, change.base_sha, scratch / "repo-rules")
        if repo_rules is not None:
            configs.append(repo_rules.path)
        return BareTarget(
            root=snapshot.root,
            targets=[f.change.path for f in snapshot.files],
            configs=configs,
            added={f.change.path: f.change.added for f in snapshot.files},
            lines_added=sum(f.change.lines_added for f in snapshot.files),
        )
    finally:
        repo.close()


def provenfix_command(repo: Path) -> list[str]:
    """The analysis only: --no-validate, since running the project's tests is not analysis."""
    beside = Path(sys.executable).parent / "provenfix"
    launcher = [str(beside)] if beside.exists() else [sys.executable, "-m", "provenfix.bot.cli"]
    revisions = ["--repo", str(repo), "--base", "base", "--head", "head"]
    return [*launcher, "analyze", *revisions, "--no-validate", "--format", "json", "--quiet"]


def semgrep_command(target: BareTarget) -> list[str]:
    command = [semgrep_executable(), *SEMGREP_FLAGS]
    for config in target.configs:
        command += ["--config", str(config)]
    return [*command, "--", *target.targets]


def semgrep_env(environ: Mapping[str, str]) -> dict[str, str]:
    """As jobs.semgrep_stage._semgrep_env: no app token, no metrics, no version check."""
    env = {k: v for k, v in environ.items() if not k.startswith("SEMGREP_APP")}
    env.update(SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
    return env


@dataclass
class Timed:
    seconds: float  # wall clock
    cpu: float  # user + system time of the command and its children
    output: Any


def run_json(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Timed:
    before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - before
    if proc.returncode not in (0, 1):
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"{Path(command[0]).name} exited {proc.returncode}: {tail}")
    try:
        return Timed(elapsed, cpu, json.loads(proc.stdout))
    except json.JSONDecodeError:
        raise BenchmarkError(f"{Path(command[0]).name} printed no JSON report") from None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Rounds:
    ours: list[Timed] = field(default_factory=list)
    bare: list[Timed] = field(default_factory=list)


def measure(
    rounds: int,
    ours: Callable[[], Timed],
    bare: Callable[[], Timed],
    *,
    warmup: bool,
    log: Callable[[str], None] = print,
) -> Rounds:
    """Interleaved runs; the order flips every round so neither always goes first."""
    if warmup:
        log("warm-up round (not counted) ...")
        ours()
        bare()
    result = Rounds()
    for index in range(rounds):
        if index % 2 == 0:
            result.ours.append(ours())
            result.bare.append(bare())
        else:
            result.bare.append(bare())
            result.ours.append(ours())
        log(
            f"  round {index + 1}/{rounds}: provenfix {result.ours[-1].seconds:.2f} s, "
            f"semgrep {result.bare[-1].seconds:.2f} s"
        )
    return result


@dataclass(frozen=True)
class Comparison:
    """`provenfix analyze --no-validate` against bare semgrep, on one pair of releases."""

    repo: Path
    target: BareTarget
    rounds: Rounds

    @property
    def wall_ratio(self) -> float:
        """Median wall time of ours / of bare semgrep."""
        return statistics.median(t.seconds for t in self.rounds.ours) / statistics.median(
            t.seconds for t in self.rounds.bare
        )

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(t.cpu for t in self.rounds.ours) / statistics.median(
            t.cpu for t in self.rounds.bare
        )

    def round_ratios(self) -> list[float]:
        return [
            o.seconds / b.seconds for o, b in zip(self.rounds.ours, self.rounds.bare, strict=True)
        ]

    def findings_match(self) -> bool:
        """Ours == bare semgrep's results on changed lines, the same in every round."""
        checks = [
            check_round(o, b, self.target)
            for o, b in zip(self.rounds.ours, self.rounds.bare, strict=True)
        ]
        return all(c.same for c in checks) and len({(c.ours, c.bare) for c in checks}) <= 1


def compare(
    package: str,
    base_version: str,
    head_version: str,
    *,
    rounds: int,
    rules: Path | None = None,
    work: Path = WORK,
    warmup: bool = True,
    log: Callable[[str], None] = print,
) -> Comparison:
    """Builds (or reuses) the repository of the two releases and measures both commands,
    interleaved, `rounds` times."""
    rules = (rules or BUNDLED_RULES_DIR).resolve()
    repo = build_repo(package, base_version, head_version, work.resolve())
    env = semgrep_env({**os.environ, "PROVENFIX_RULES_DIR": str(rules)})
    with tempfile.TemporaryDirectory(prefix="bare-semgrep-") as scratch:
        target = prepare_bare_target(repo, rules, Path(scratch))
        if not target.targets:
            raise BenchmarkError("the change touches no analyzable Python file")
        log(
            f"{package} {base_version} -> {head_version}: {len(target.targets)} Python files, "
            f"{target.lines_added} changed lines; {rounds} rounds"
        )
        ours_cmd, bare_cmd = provenfix_command(repo), semgrep_command(target)
        measured = measure(
            rounds,
            lambda: run_json(ours_cmd, cwd=repo, env=env),
            lambda: run_json(bare_cmd, cwd=target.root, env=env),
            warmup=warmup,
            log=log,
        )
    return Comparison(repo, target, measured)


# --- 4. the same findings? ----------------------------------------------------------


def our_semgrep_keys(report: Any) -> set[Key]:
    return {
        (str(f["path"]), int(f["start_line"]), str(f["rule_id"]))
        for f in report.get("findings", [])
        if f.get("source") == "semgrep"
    }


def bare_keys(output: Any) -> set[Key]:
    return {
        (str(r["path"]), int(r["start"]["line"]), str(r["check_id"]))
        for r in output.get("results", [])
    }


def on_changed_lines(output: Any, added: Mapping[str, tuple[LineRange, ...]]) -> set[Key]:
    """Bare semgrep's results filtered the way the pipeline filters them."""
    kept: set[Key] = set()
    for r in output.get("results", []):
        path, start, end = str(r["path"]), int(r["start"]["line"]), int(r["end"]["line"])
        end = max(start, end)
        if any(a.start <= end and start <= a.end for a in added.get(path, ())):
            kept.add((path, start, str(r["check_id"])))
    return kept


# --- optional: where the time goes, in process ------------------------------------


Piece = tuple[str, float, float]  # name, wall s, cpu s (this process and its children)


def best_of(times: int, name: str, action: Callable[[], object]) -> Piece:
    """The fastest of `times` runs, by wall time, with the CPU time it took."""
    best = (float("inf"), 0.0)
    for _ in range(times):
        cpu = time.process_time() + _children_cpu()
        started = time.perf_counter()
        action()
        wall = time.perf_counter() - started
        best = min(best, (wall, time.process_time() + _children_cpu() - cpu))
    return (name, *best)


def breakdown(repo_path: Path, rules: Path, env: Mapping[str, str]) -> list[Piece]:
    """Each piece of `provenfix analyze` alone: best of 3 (of 2 for those running semgrep)."""

    def child(*command: str) -> Callable[[], object]:
        return lambda: subprocess.run(command, env=env, capture_output=True, check=True)

    def read_settings() -> None:
        fresh = open_repo(repo_path)
        read_repo_settings(fresh, "base")
        fresh.close()

    python = sys.executable
    cli = "import provenfix.bot.cli, provenfix.jobs.analyze_command"
    rows = [
        best_of(3, "python start (-c pass)", child(python, "-c", "pass")),
        best_of(3, "python start + the CLI's imports", child(python, "-c", cli)),
        best_of(3, "... + libcst and the codemods", child(python, "-c", cli + _CODEMODS_IMPORT)),
        best_of(3, "open repo + read settings", read_settings),
    ]
    repo = open_repo(repo_path)
    try:
        settings = read_repo_settings(repo, "base").settings
        changes: list[Change] = []
        rows.append(
            best_of(
                3,
                "diff (compute_change)",
                lambda: changes.append(compute_change(repo, "base", "head")),
            )
        )
        with tempfile.TemporaryDirectory(prefix="provenfix-bench-") as scratch:
            rows += _in_process(Path(scratch), changes[-1], settings, rules)
            config = PipelineConfig(validation="off", rules_dir=rules)
            pipeline = build_pipeline(settings, config)
            request = AnalysisRequest(repo_path, "base", "head")
            rows.append(best_of(2, "the whole pipeline, in process", lambda: pipeline.run(request)))
    finally:
        repo.close()
    return rows


_CODEMODS_IMPORT = "; import provenfix.jobs.generation.codemods.generator"


def _in_process(
    scratch: Path, change: Change, settings: AnalysisSettings, rules: Path
) -> list[Piece]:
    """The pieces `Pipeline._analyze` runs, each alone."""
    snapshots: list[Snapshot] = []
    trees: list[list[str]] = []

    def snapshot() -> None:
        snapshots.append(take_snapshot(change, settings, scratch / f"head-{len(snapshots)}"))

    def scan_tree() -> None:
        trees.append(write_scan_tree(change, settings, scratch / f"scan-{len(trees)}"))

    rows = [
        best_of(3, "files for the early scan (write_scan_tree)", scan_tree),
        best_of(3, "snapshot (take_snapshot)", snapshot),
    ]
    snap = snapshots[-1]
    radon = ComplexityAnalyzer(settings)
    semgrep = SemgrepAnalyzer(rules, timeout_s=settings.analysis_timeout_s)
    hot = hotspots(radon.analyze(snap, Fingerprinter()).metrics, settings.complexity_threshold)
    focused = CodemodGenerator().focused  # a new one each time: it keeps what it made
    rows += [
        best_of(3, "radon alone", lambda: radon.analyze(snap, Fingerprinter())),
        best_of(3, f"codemods on the {len(hot)} hotspot(s)", lambda: focused(snap, hot).warm()),
        best_of(2, "semgrep stage alone", lambda: semgrep.analyze(snap, Fingerprinter())),
    ]
    return rows


# --- output -------------------------------------------------------------------------


def describe(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   min {min(values):6.2f} s"


def report(
    args: argparse.Namespace, rules: Path, comparison: Comparison, extra: list[Piece]
) -> None:
    target, rounds = comparison.target, comparison.rounds
    ours = [t.seconds for t in rounds.ours]
    bare = [t.seconds for t in rounds.bare]
    summaries = [t.output.get("summary", {}) for t in rounds.ours]
    last = rounds.ours[-1].output
    ratio = statistics.median(ours) / statistics.median(bare)
    ratio_min = min(ours) / min(bare)

    rule_files = sum(1 for p in rules.rglob("*") if p.suffix in (".yml", ".yaml"))
    print()
    print(f"change      {args.package} {args.base_version} -> {args.head_version}")
    print(
        f"            {last['summary']['files_changed']} files changed, "
        f"{len(target.targets)} Python files scanned, "
        f"{target.lines_added} added/changed lines in them "
        f"({last['summary']['lines_added']} in all files)"
    )
    print(f"rules       {rules} ({rule_files} rule files)")
    print(
        f"findings    {last['summary']['findings']} reported "
        f"({len(our_semgrep_keys(last))} semgrep, "
        f"{sum(1 for f in last['findings'] if f['source'] == 'radon')} radon), "
        f"{len(last.get('skipped', []))} skipped entries"
    )
    print()
    print("        ---- provenfix analyze ----  ------ bare semgrep ------")
    print("round     wall s      cpu s                wall s      cpu s     ratio (wall)")
    for index, (o, b) in enumerate(zip(rounds.ours, rounds.bare, strict=True), start=1):
        print(
            f"{index:>5}  {o.seconds:>9.2f}  {o.cpu:>9.2f}  {'':>10}  {b.seconds:>9.2f}  "
            f"{b.cpu:>9.2f}     {o.seconds / b.seconds:>5.2f}x"
        )
    print()
    print(f"provenfix analyze   wall {describe(ours)}")
    print(f"bare semgrep scan   wall {describe(bare)}")
    cpu_overhead = statistics.median(t.cpu for t in rounds.ours) - statistics.median(
        t.cpu for t in rounds.bare
    )
    print(
        f"overhead            {statistics.median(ours) - statistics.median(bare):+.2f} s wall, "
        f"{cpu_overhead:+.2f} s cpu (medians)"
    )
    load_after = os.getloadavg()[0]
    print(
        f"load average        {args.load_before:.2f} before, {load_after:.2f} after "
        f"({os.cpu_count()} cpus; other work on the machine skews the wall times)"
    )
    print()

    def stage(name: str) -> float:
        return statistics.median(
            float(s.get("stage_durations_s", {}).get(name, 0.0)) for s in summaries
        )

    pipeline = statistics.median(float(s.get("duration_s", 0.0)) for s in summaries)
    outside = statistics.median(
        t.seconds - float(s.get("duration_s", 0.0))
        for t, s in zip(rounds.ours, summaries, strict=True)
    )
    print("stage breakdown (medians over the provenfix runs, from summary.stage_durations_s)")
    for name in sorted({k for s in summaries for k in s.get("stage_durations_s", {})}):
        print(f"  {name:<34} {stage(name):6.2f} s")
    analyze = stage("analyze")
    print(f"  {'analyze minus bare semgrep':<34} {analyze - statistics.median(bare):+6.2f} s")
    print(f"  {'pipeline total (duration_s)':<34} {pipeline:6.2f} s")
    print(f"  {'outside the pipeline':<34} {outside:6.2f} s  (interpreter, imports, config, JSON)")
    if extra:
        print()
        print("where the time goes, each piece alone (best run)     wall      cpu")
        for name, wall, cpu in extra:
            print(f"  {name:<44} {wall:6.2f} s {cpu:6.2f} s")
    print()

    ok = sanity(comparison)
    print()
    verdict = "PASS" if ratio <= args.target else "FAIL"
    cpu_ratio = statistics.median(t.cpu for t in rounds.ours) / statistics.median(
        t.cpu for t in rounds.bare
    )
    print(
        f"ratio ours/bare: {ratio:.2f}x wall (medians), {ratio_min:.2f}x wall (minimums), "
        f"{cpu_ratio:.2f}x cpu (medians)"
    )
    print(f"target: wall ratio (medians) <= {args.target:.2f}x: {verdict}")
    if not ok:
        print("findings check: FAIL (see above)")


@dataclass(frozen=True)
class RoundCheck:
    ours: frozenset[Key]  # our semgrep findings
    expected: frozenset[Key]  # bare semgrep's results on changed lines
    bare: frozenset[Key]  # all of bare semgrep's results

    @property
    def same(self) -> bool:
        return self.ours == self.expected and self.ours <= self.bare


def check_round(ours_run: Timed, bare_run: Timed, target: BareTarget) -> RoundCheck:
    return RoundCheck(
        frozenset(our_semgrep_keys(ours_run.output)),
        frozenset(on_changed_lines(bare_run.output, target.added)),
        frozenset(bare_keys(bare_run.output)),
    )


def sanity(comparison: Comparison) -> bool:
    """Per round: ours == bare semgrep's results on changed lines, by (path, line, rule)."""
    print("findings check (path, line, rule), per round: ours / bare on changed lines / bare")
    rounds = comparison.rounds
    for index, (ours_run, bare_run) in enumerate(zip(rounds.ours, rounds.bare, strict=True), 1):
        check = check_round(ours_run, bare_run, comparison.target)
        errors = len(bare_run.output.get("errors", []))
        semgrep_skips = [
            s for s in ours_run.output.get("skipped", []) if "semgrep" in str(s.get("reason", ""))
        ]
        print(
            f"  round {index}: {len(check.ours)} / {len(check.expected)} / {len(check.bare)}"
            f"{'' if check.same else '  MISMATCH'}"
            f"{f'  (bare semgrep errors: {errors})' if errors else ''}"
            f"{f'  (ours: {len(semgrep_skips)} semgrep skips)' if semgrep_skips else ''}"
        )
        for key in sorted(check.ours - check.expected)[:5]:
            print(f"    only ours: {key}")
        for key in sorted(check.expected - check.ours)[:5]:
            print(f"    only bare: {key}")
    ok = comparison.findings_match()
    print(f"  ours == bare on changed lines, every round the same: {'yes' if ok else 'NO'}")
    return ok


def rules_digest(rules: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in rules.rglob("*") if p.suffix in (".yml", ".yaml")):
        digest.update(str(path.relative_to(rules)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# --- main ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--package", default=DEFAULT_PACKAGE[0], help="PyPI project (pure Python)")
    parser.add_argument("--base-version", default=DEFAULT_PACKAGE[1])
    parser.add_argument("--head-version", default=DEFAULT_PACKAGE[2])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the uncounted first round")
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the in-process timing of each stage"
    )
    parser.add_argument(
        "--rules", type=Path, help="semgrep rules (default: the bundled rules/, as the CLI finds)"
    )
    parser.add_argument("--target", type=float, default=TARGET_RATIO, help="max ratio ours/bare")
    parser.add_argument(
        "--work", type=Path, default=WORK, help="cache folder (benchmarks/.work/analysis)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rules = (args.rules or BUNDLED_RULES_DIR).resolve()
        if not any(p.suffix in (".yml", ".yaml") for p in rules.rglob("*")):
            print(f"warning: no rule files under {rules}; semgrep will fail or find nothing")
        args.load_before = os.getloadavg()[0]
        digest = rules_digest(rules)
        comparison = compare(
            args.package,
            args.base_version,
            args.head_version,
            rounds=args.rounds,
            rules=rules,
            work=args.work,
            warmup=not args.no_warmup,
            log=lambda line: print(line, flush=True),
        )
        env = semgrep_env({**os.environ, "PROVENFIX_RULES_DIR": str(rules)})
        extra = [] if args.no_breakdown else breakdown(comparison.repo, rules, env)
        report(args, rules, comparison, extra)
        if rules_digest(rules) != digest:
            print("warning: the rule files changed during the run; rerun to compare")
    except (BenchmarkError, ToolFailure) as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
