"""What real release diffs get posted: the noise the posting gate must keep out.

A release-to-release diff of a well-kept library is a change nobody would want a
bot to "fix": it has few or no findings, and any committable suggestion on it
that resolves nothing is noise in a reviewer's pull request. Before the posting
gate, three such diffs got 14 committable suggestions and none resolved a
finding (12 `hoist-loop-lookup` rewrites, most in test files, with speed-ups
nobody measured). The gate (docs/validation.md, "The posting gate";
jobs/suggest.py) posts a proven suggestion only when it resolves a finding or is
an optimization with a significant micro-benchmarked speed-up (95% lower bound
>= 1.1x), and only when it rewrites lines the change touched; the rest goes to
the report's `skipped` with the reason.

For each pair NAME:OLD:NEW (pure-Python libraries whose sdists ship their tests):

  1. both sdists are fetched with `pip download --no-deps --no-binary :all:`
     (cached in benchmarks/.work/release_noise/sdists/, git-ignored) and replayed
     as a git repository in benchmarks/.work/release_noise/repos/: `main` is the
     OLD release tree, branch `pr` the NEW one (each sdist's top folder
     stripped, nothing else removed);
  2. the whole pipeline runs on it, tests proven in the Docker sandbox:
         python -m bot.cli analyze --repo REPO --base main --head pr
             --sandbox docker --format json --output REPORT --model off
     run in the ProvenFix checkout given by --source (default: the one holding
     this script, working tree as it is) with PYTHONPATH set to it; the first
     output line names it and its commit (timeout 20 minutes; the environment
     image is built once per library from PyPI, then reused; the JSON report and
     the analysis' stderr are kept in
     benchmarks/.work/release_noise/reports/SOURCE-FOLDER-NAME/);
  3. the report is read (schemas/report-v2.schema.json) and printed: files
     changed, lines added, findings by rule, suggestions listed, committable
     ones (`validation.status == passed`), how many of those resolve a finding
     (non-empty `finding_ids`) or are optimizations with
     `validation.speed.significant`, their sources and paths, and the `skipped`
     entries that are gate refusals ("not proven", "resolves none", "did not
     touch", "speed-up"), counted by kind and by source; plus wall time. As an
     independent check, each committable suggestion's lines are compared with
     the `+` hunks of `git diff -U0 main...pr`.

Findings from the tests (`test-failure`) are printed with their message: a
released version's suite passed its own CI, so each one deserves a look.
Every committable suggestion that resolves nothing (no `finding_ids`, no
significant speed-up) is printed in full (source, lines, rationale, validation).

Goal: 0 committable suggestions that resolve nothing. The last line says PASS
when every committable suggestion on every pair resolves a finding or has a
significant measured speed-up, rewrites only lines the change touched, and
every pair could be analyzed; FAIL otherwise.

    .venv/bin/python benchmarks/release_noise.py
    .venv/bin/python benchmarks/release_noise.py --pair cachetools:5.4.0:5.5.0 \\
        --pair more-itertools:10.4.0:10.5.0
    mkdir /tmp/provenfix-old && git archive b1533cc | tar -x -C /tmp/provenfix-old  # no gate
    .venv/bin/python benchmarks/release_noise.py --source /tmp/provenfix-old

Defaults: more-itertools 10.4.0 -> 10.5.0, toolz 0.12.1 -> 1.0.0, boltons
26.1.0 -> 26.2.0, tabulate 0.9.0 -> 0.10.0 (boltons 24.x is no candidate: its
tests/conftest.py declares `pytest_ignore_collect(path, config)`, which pytest 9,
the version the sandbox installs, refuses, so no test runs).

Needs PyPI (first run), the Docker engine and provenfix/sandbox-base:bookworm
(scripts/build-sandbox-base).

Exit status 0 whether the goal is met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run (download, git, no Docker engine, or
no pair produced a report).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdists import BenchmarkError, fetch_sdist, git, say, unpack_sdist

from provenfix.jobs.validation.replay import is_test_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "release_noise"
DEFAULT_PAIRS = (
    "more-itertools:10.4.0:10.5.0",
    "toolz:0.12.1:1.0.0",
    "boltons:26.1.0:26.2.0",
    "tabulate:0.9.0:0.10.0",
)
ANALYZE_TIMEOUT_S = 20 * 60
SPEED_CLAIM = 1.1  # documentation only: the report's `significant` is what counts
# (substring of a `skipped` reason, kind): the posting gate's refusals (jobs/suggest.py:gate),
# tried in this order.
GATE_KINDS = (
    ("not proven", "not proven, resolves no finding"),
    ("resolves none", "proven, resolves none of its findings"),
    ("did not touch", "rewrites lines the change did not touch"),
    ("no speed-up could be measured", "optimization, no speed-up measured"),
    ("speed-up", "optimization, speed-up not significant"),
)
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
UNTOUCHED = re.compile(r"rewrites line (\d+), which this change did not touch")


# --- 1. the two releases, as a pull request ----------------------------------------------


@dataclass(frozen=True)
class Pair:
    name: str
    old: str
    new: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.old} -> {self.new}"

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.old}-to-{self.new}"


def parse_pair(text: str) -> Pair:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected NAME:OLD:NEW, got {text!r}")
    return Pair(*parts)


def build_repo(work: Path, pair: Pair) -> Path:
    """A git repository: `main` = the OLD release tree, branch `pr` = the NEW one on top."""
    repo = work / "repos" / pair.slug
    if (repo / ".git").is_dir():
        try:
            git(repo, "rev-parse", "--verify", "--quiet", "main^{commit}", "pr^{commit}")
            return repo
        except BenchmarkError:
            pass  # half-built by an interrupted run: start over
    old_sdist = fetch_sdist(work / "sdists", pair.name, pair.old)
    new_sdist = fetch_sdist(work / "sdists", pair.name, pair.new)
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    unpack_sdist(old_sdist, repo)
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{pair.name} {pair.old}")
    git(repo, "checkout", "--quiet", "-b", "pr")
    git(repo, "rm", "-r", "--quiet", "--cached", ".")
    for entry in repo.iterdir():
        if entry.name != ".git":
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    unpack_sdist(new_sdist, repo)
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{pair.name} {pair.new}")
    git(repo, "checkout", "--quiet", "main")
    return repo


def touched_lines(repo: Path) -> dict[str, set[int]]:
    """Head lines of `main...pr` that the change added or modified, per path."""
    out = git(repo, "diff", "-U0", "--no-color", "--no-ext-diff", "main...pr")
    lines: dict[str, set[int]] = {}
    path: str | None = None
    for line in out.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else None
        elif path is not None and (match := HUNK.match(line)):
            start, count = int(match[1]), int(match[2] or "1")
            lines.setdefault(path, set()).update(range(start, start + count))
    return lines


def python_files_changed(repo: Path) -> int:
    names = git(repo, "diff", "--name-only", "--no-color", "main...pr").split()
    return sum(1 for n in names if n.endswith(".py"))


# --- 2. the analysis ---------------------------------------------------------------------


@dataclass
class Analysis:
    pair: Pair
    command: list[str]
    wall_s: float
    returncode: int | None  # None: timed out
    report: dict[str, Any] | None
    log: Path
    error: str = ""
    touched: dict[str, set[int]] = field(default_factory=dict)
    python_files: int = 0


def docker_available() -> str:
    """ "" when the Docker engine answers, else why not."""
    try:
        import docker  # the project's dependency; imported here to keep --help fast

        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot run
        return f"{type(exc).__name__}: {exc}"
    return ""


def source_env(source: Path) -> dict[str, str]:
    """The environment that makes `python -m bot.cli` import ProvenFix from `source`."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(source) + (os.pathsep + path if path else "")}


def describe_source(source: Path) -> str:
    """Where the analyzed ProvenFix comes from, and which commit."""
    proc = subprocess.run(
        [sys.executable, "-c", "import bot, jobs; print(jobs.__file__)"],
        cwd=source,
        env=source_env(source),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"cannot import ProvenFix from {source}: {proc.stderr.strip()}")
    jobs_file = Path(proc.stdout.strip())
    if not jobs_file.is_relative_to(source):
        raise BenchmarkError(f"ProvenFix imports from {jobs_file}, not from {source}")
    if not (source / ".git").exists():
        return f"{source} (no git metadata)"
    head = git(source, "rev-parse", "--short", "HEAD").strip()
    dirty = git(source, "status", "--porcelain", "--untracked-files=no").splitlines()
    return f"{source} at {head}" + (f" + {len(dirty)} modified files" if dirty else "")


def analyze(
    work: Path, pair: Pair, repo: Path, source: Path, model: str, timeout_s: float
) -> Analysis:
    reports = work / "reports" / source.name  # one folder per ProvenFix checkout
    reports.mkdir(parents=True, exist_ok=True)
    output = reports / f"{pair.slug}.json"
    log = reports / f"{pair.slug}.log"
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "provenfix.bot.cli", "analyze", "--repo", str(repo)]
    command += ["--base", "main", "--head", "pr", "--sandbox", "docker", "--format", "json"]
    command += ["--output", str(output), "--model", model]
    say(f"{pair.label}: analyzing (log: {log}) ...")
    started = time.perf_counter()
    returncode: int | None
    with log.open("w") as stderr:
        try:
            proc = subprocess.run(
                command,
                cwd=source,
                env=source_env(source),
                stdout=stderr,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
            )
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    wall = time.perf_counter() - started
    result = Analysis(pair, command, wall, returncode, None, log)
    if returncode is None:
        result.error = f"timed out after {timeout_s:.0f} s"
    elif returncode != 0:
        result.error = f"exit status {returncode}"
    if output.is_file():
        try:
            result.report = json.loads(output.read_text())
        except json.JSONDecodeError as exc:
            result.error = (result.error + "; " if result.error else "") + f"bad JSON: {exc}"
    elif not result.error:
        result.error = "no report written"
    return result


# --- 3. what was posted -----------------------------------------------------------------


def committable(s: dict[str, Any]) -> bool:
    flag = s.get("committable")
    if isinstance(flag, bool):
        return flag
    return bool(s["validation"]["status"] == "passed")


def significant_speedup(s: dict[str, Any]) -> bool:
    speed = s["validation"].get("speed")
    return s["kind"] == "optimization" and isinstance(speed, dict) and bool(speed["significant"])


def gate_kind(reason: str) -> str | None:
    for needle, kind in GATE_KINDS:
        if needle in reason:
            return kind
    return None


@dataclass
class Tally:
    committable: int = 0
    resolving: int = 0
    speedups: int = 0
    noise: list[tuple[Pair, dict[str, Any]]] = field(default_factory=list)
    outside: int = 0
    failed: list[Pair] = field(default_factory=list)
    analyzed: int = 0


def lines_of(s: dict[str, Any]) -> str:
    start, end = s["start_line"], s["end_line"]
    return f"{s['path']}:{start}" + (f"-{end}" if end != start else "")


def print_pair(a: Analysis, tally: Tally) -> None:
    print(f"== {a.pair.label}")
    print(f"   command: {' '.join(a.command[1:])}")
    status = "timed out" if a.returncode is None else f"exit {a.returncode}"
    print(f"   wall time: {a.wall_s:.1f} s ({status})")
    if a.error:
        tally.failed.append(a.pair)
        print(f"   ERROR: {a.error}; last lines of {a.log}:")
        tail = a.log.read_text(errors="replace").splitlines()[-25:] if a.log.is_file() else []
        for line in tail:
            print(f"     | {line}")
    report = a.report
    if report is None:
        return
    tally.analyzed += 1
    summary = report.get("summary", {})
    stages = summary.get("stage_durations_s", {})
    stage_text = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
    print(f"   pipeline: {summary.get('duration_s', 0.0):.1f} s ({stage_text})")
    print(
        f"   change: {summary.get('files_changed')} files changed ({a.python_files} Python), "
        f"{summary.get('lines_added')} lines added"
    )
    findings: list[dict[str, Any]] = report.get("findings", [])
    by_rule = Counter(f"{f['source']}:{f['rule_id']}" for f in findings)
    rules = ", ".join(f"{rule} x{n}" for rule, n in by_rule.most_common()) or "-"
    print(f"   findings: {len(findings)} ({rules})")
    for f in findings:
        if f["source"] == "tests":  # a released version's own tests failing is suspicious
            print(f"     {f['path']}:{f['start_line']} {f['severity']}: {f['message'][:240]}")
    known = {f["id"] for f in findings}

    suggestions: list[dict[str, Any]] = report.get("suggestions", [])
    proven = [s for s in suggestions if committable(s)]
    resolving = [s for s in proven if s["finding_ids"]]
    fast = [s for s in proven if not s["finding_ids"] and significant_speedup(s)]
    noise = [s for s in proven if not s["finding_ids"] and not significant_speedup(s)]
    print(
        f"   suggestions: {len(suggestions)} listed, {len(proven)} committable "
        f"({len(resolving)} resolve a finding, {len(fast)} significant speed-up, "
        f"{len(noise)} resolve nothing), {len(suggestions) - len(proven)} listed unproven"
    )
    for s in proven:
        why = (
            "resolves " + ", ".join(s["finding_ids"])
            if s["finding_ids"]
            else "speed-up {speedup:.2f}x [{low:.2f}-{high:.2f}]".format(**s["validation"]["speed"])
            if significant_speedup(s)
            else "RESOLVES NOTHING"
        )
        dangling = [i for i in s["finding_ids"] if i not in known]
        touched = a.touched.get(s["path"], set())
        outside = [n for n in range(s["start_line"], s["end_line"] + 1) if n not in touched]
        notes = []
        if dangling:
            notes.append(f"finding ids not in the report: {dangling}")
        if outside:
            notes.append(f"line {outside[0]} not touched by main...pr")
            tally.outside += 1
        if is_test_path(s["path"]):
            notes.append("test file")
        extra = f" [{'; '.join(notes)}]" if notes else ""
        print(f"     committable: {s['source']} {s['kind']} {lines_of(s)}: {why}{extra}")
    unproven = Counter(s["validation"]["status"] for s in suggestions if not committable(s))
    if unproven:
        print("   listed unproven: " + ", ".join(f"{k} x{n}" for k, n in unproven.most_common()))
    sources = Counter(s["source"] for s in proven)
    if sources:
        print("   committable by source: " + ", ".join(f"{k} x{n}" for k, n in sources.items()))

    skipped: list[dict[str, Any]] = report.get("skipped", [])
    kinds: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    in_tests = 0
    other: Counter[str] = Counter()
    for entry in skipped:
        reason = str(entry.get("reason", ""))
        kind = gate_kind(reason)
        if kind is None:
            other[re.sub(r"\d+", "N", reason.splitlines()[0] if reason else "")[:110]] += 1
            continue
        kinds[kind] += 1
        by_source[reason.split(" ", 1)[0]] += 1
        in_tests += is_test_path(str(entry.get("path", "")).rsplit(":", 1)[0])
    print(f"   gate refusals: {sum(kinds.values())} ({in_tests} in test files)")
    for kind, n in kinds.most_common():
        print(f"     {n:3d}  {kind}")
    untouched = [
        (str(e.get("path", "")).rsplit(":", 1)[0], int(m[1]))
        for e in skipped
        if (m := UNTOUCHED.search(str(e.get("reason", ""))))
    ]
    wrong = [f"{p}:{n}" for p, n in untouched if n in a.touched.get(p, set())]
    if untouched:
        check = f"{len(wrong)} touched by main...pr: {wrong}" if wrong else "none touched"
        print(f"   'did not touch' refusals checked against git diff -U0: {check}")
    if by_source:
        print("   refused by source: " + ", ".join(f"{k} x{n}" for k, n in by_source.most_common()))
    if other:
        print(f"   other skipped: {sum(other.values())}")
        for reason, n in other.most_common(8):
            print(f"     {n:3d}  {reason}")

    tally.committable += len(proven)
    tally.resolving += len(resolving)
    tally.speedups += len(fast)
    tally.noise.extend((a.pair, s) for s in noise)


def print_noise(noise: Sequence[tuple[Pair, dict[str, Any]]]) -> None:
    print()
    print(f"== committable suggestions that resolve nothing: {len(noise)}")
    for pair, s in noise:
        print(f"-- {pair.label}: {s['source']} ({s['kind']}) {lines_of(s)}")
        print("   original:")
        for line in str(s["original"]).splitlines():
            print(f"     - {line}")
        print("   replacement:")
        for line in str(s["replacement"]).splitlines():
            print(f"     + {line}")
        print("   rationale:")
        for line in str(s["rationale"]).splitlines():
            print(f"     {line}")
        print("   validation: " + json.dumps(s["validation"], indent=2).replace("\n", "\n   "))


# --- 4. main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the pipeline on real release-to-release diffs and count what the "
        "posting gate lets through that resolves nothing."
    )
    parser.add_argument(
        "--pair",
        action="append",
        type=parse_pair,
        metavar="NAME:OLD:NEW",
        help="a PyPI library and two releases (repeatable; default: "
        + ", ".join(DEFAULT_PAIRS)
        + ")",
    )
    parser.add_argument("--model", default="off", help="--model for analyze (default: off)")
    parser.add_argument(
        "--timeout", type=float, default=ANALYZE_TIMEOUT_S, help="seconds per analysis"
    )
    parser.add_argument("--work", type=Path, default=WORK, help="cache and scratch folder")
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="the ProvenFix checkout to run (default: the one holding this script); e.g. "
        "`git archive COMMIT | tar -x -C DIR` to measure an older version",
    )
    args = parser.parse_args(argv)
    if not args.pair:
        args.pair = [parse_pair(p) for p in DEFAULT_PAIRS]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    pairs: list[Pair] = args.pair
    source: Path = args.source.resolve()
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        why = docker_available()
        if why:
            raise BenchmarkError(f"the Docker engine is not available ({why})")
        print(f"ProvenFix: {describe_source(source)}", flush=True)
        repos = {pair: build_repo(work, pair) for pair in pairs}
    except (BenchmarkError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    tally = Tally()
    for pair in pairs:
        repo = repos[pair]
        try:
            touched = touched_lines(repo)
            python_files = python_files_changed(repo)
        except BenchmarkError as exc:
            print(f"benchmark error: {exc}", file=sys.stderr)
            return 2
        result = analyze(work, pair, repo, source, args.model, args.timeout)
        result.touched, result.python_files = touched, python_files
        print_pair(result, tally)
        print(flush=True)
    if tally.analyzed == 0:
        print("benchmark error: no pair produced a report", file=sys.stderr)
        return 2
    if tally.noise:
        print_noise(tally.noise)
    load_after = os.getloadavg()
    print()
    print(
        f"total wall time {time.perf_counter() - started:.0f} s; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; {os.cpu_count()} cores"
    )
    failed = ", ".join(p.label for p in tally.failed)
    print(
        f"summary: {len(pairs)} release diffs ({tally.analyzed} analyzed"
        + (f"; analysis failed: {failed}" if failed else "")
        + f"), {tally.committable} committable suggestions: {tally.resolving} resolve a "
        f"finding, {tally.speedups} significant speed-up (>= {SPEED_CLAIM}x lower bound), "
        f"{len(tally.noise)} resolve nothing (goal: 0); {tally.outside} outside the changed lines"
    )
    ok = not tally.noise and not tally.failed and tally.outside == 0
    print(
        ("PASS" if ok else "FAIL")
        + ": every committable suggestion resolves a finding or has a significant measured "
        "speed-up" + ("" if not tally.failed else " (not every pair could be analyzed)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
