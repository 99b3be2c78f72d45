"""Detection breadth: defects injected into real libraries, each as its own pull request.

The corpus (benchmarks/detection_corpus/*.yaml, one file per library release) lists small
edits to real files of pure-Python libraries from PyPI, none of them a library the other
benchmarks use. Each edit injects one defect that a bundled rule should report (defect,
performance, maintainability and security rules), many of them in the aliased and indirect
forms a syntactic rule misses most easily: a bound method stored in a local
(`seen_add = seen.append`), a helper that builds the list, comprehension and generator
variants, a name bound to a list in one branch and a set in another, a builtin or a
library function under another name.

For each library release:

  1. the sdist is fetched with `pip download --no-deps --no-binary :all:` (cached in
     benchmarks/.work/detection/sdists/, git-ignored) and committed unchanged as `main` of
     a git repository in benchmarks/.work/detection/repos/NAME-VERSION;
  2. each defect becomes a branch `pr/ID` with its edit: every `find` text must occur
     exactly once in the file; the edited file must compile and its module must import
     (`python -c "import MODULE"` with the library's source root on the path), and the
     corpus' `marker` text must be on the corpus' `line` at head (so the expected line is
     checked, not trusted);
  3. the pipeline analyzes `main...pr/ID` as `provenfix analyze --no-validate` does
     (jobs.factory.build_pipeline with validation off: diff, snapshot, semgrep with the
     bundled rules + radon, the filter to the change's lines, candidate generation) and
     its report is checked: the expected rule must be reported on the expected line, and
     no finding may lie outside the lines `git diff -U0 main...pr/ID` adds or changes.

Output: one line per defect (the family, the form, hit or MISSED, other findings on the
PR's lines), then a table per family: injected, flagged on the right line, missed (with the
form), findings outside the PR's lines; PASS when every family has >= 95% flagged on the
right line and no finding lies outside the PR's lines, FAIL otherwise; and the load
average before and after.

    .venv/bin/python benchmarks/detection_corpus.py
    .venv/bin/python benchmarks/detection_corpus.py --family performance --jobs 1
    .venv/bin/python benchmarks/detection_corpus.py --only jinja2-unique-seen-add
    .venv/bin/python benchmarks/detection_corpus.py --check     # build and check the PRs only

Needs PyPI on the first run (the sdists); no Docker, no model.

Exit status 0 whether the goal is met or not (the output says PASS or FAIL); 2 when the
benchmark itself could not run (download, git, a corpus entry that does not apply, compile
or import, or a marker not on its line).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sdists import BenchmarkError, fetch_sdist, git, say, unpack_sdist

from provenfix.jobs.config import BUNDLED_RULES_DIR, PipelineConfig
from provenfix.jobs.diff import open_repo
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.repo_config import known_rule_ids, read_repo_settings
from provenfix.jobs.report import Finding
from provenfix.jobs.semgrep_stage import merged_rules_file

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "detection_corpus"
WORK = HERE / ".work" / "detection"
FAMILIES = ("defect", "performance", "maintainability", "security")
TARGET = 0.95  # flagged on the right line, per family
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
IMPORT_TIMEOUT_S = 60


# --- 1. the corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    find: str
    replace: str


@dataclass(frozen=True)
class Defect:
    id: str
    library: str  # NAME==VERSION
    family: str
    rule: str
    form: str
    file: str  # repository-relative path of the edited file
    module: str  # what must still import after the edit
    edits: tuple[Edit, ...]
    line: int  # the expected line at head
    marker: str  # text on that line

    @property
    def branch(self) -> str:
        return f"pr/{self.id}"


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    root: str  # the folder that holds the package (sys.path entry of the import check)
    defects: tuple[Defect, ...]

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.version}"


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise BenchmarkError(f"{where}: `{key}` must be a non-empty string")
    return value


def load_library(path: Path) -> Library:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("defects"), list):
        raise BenchmarkError(f"{path.name}: expected `library`, `version`, `root`, `defects`")
    name = _text(data, "library", path.name)
    version = str(data.get("version", ""))
    root = str(data.get("root", "."))
    label = f"{name}=={version}"
    defects: list[Defect] = []
    for number, entry in enumerate(data["defects"], 1):
        where = f"{path.name} defect {number}"
        if not isinstance(entry, dict):
            raise BenchmarkError(f"{where}: expected a mapping")
        raw_edits = entry.get("edits")
        if raw_edits is None:
            raw_edits = [{"find": entry.get("find"), "replace": entry.get("replace")}]
        if not isinstance(raw_edits, list) or not raw_edits:
            raise BenchmarkError(f"{where}: `edits` must be a non-empty list")
        edits = tuple(
            Edit(_text(e, "find", where), str(e.get("replace", "")))
            for e in raw_edits
            if isinstance(e, dict)
        )
        family = _text(entry, "family", where)
        if family not in FAMILIES:
            raise BenchmarkError(f"{where}: family {family!r} is not one of {FAMILIES}")
        line = entry.get("line")
        if not isinstance(line, int) or line < 1:
            raise BenchmarkError(f"{where}: `line` must be a positive integer")
        defects.append(
            Defect(
                id=_text(entry, "id", where),
                library=label,
                family=family,
                rule=_text(entry, "rule", where),
                form=_text(entry, "form", where),
                file=_text(entry, "file", where),
                module=_text(entry, "module", where),
                edits=edits,
                line=line,
                marker=_text(entry, "marker", where),
            )
        )
    return Library(name, version, root, tuple(defects))


def load_corpus(folder: Path) -> list[Library]:
    libraries = [load_library(p) for p in sorted(folder.glob("*.yaml"))]
    if not libraries:
        raise BenchmarkError(f"no corpus files (*.yaml) in {folder}")
    ids = [d.id for lib in libraries for d in lib.defects]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BenchmarkError(f"duplicate defect ids: {', '.join(duplicates)}")
    for i in ids:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", i):
            raise BenchmarkError(f"defect id {i!r}: use lowercase letters, digits and dashes")
    return libraries


# --- 2. the pull requests ---------------------------------------------------------------


def build_base(work: Path, library: Library) -> Path:
    """The release, unchanged, as `main` of a git repository (reused when already built)."""
    repo = work / "repos" / library.slug
    if (repo / ".git").is_dir():
        try:
            git(repo, "rev-parse", "--verify", "--quiet", "main^{commit}")
            git(repo, "checkout", "--quiet", "--force", "main")
            git(repo, "clean", "-q", "-f", "-d", "-x")
            return repo
        except BenchmarkError:
            pass  # half-built by an interrupted run: start over
    sdist = fetch_sdist(work / "sdists", library.name, library.version)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    unpack_sdist(sdist, repo)
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{library.name} {library.version}")
    return repo


def apply_edits(text: str, defect: Defect) -> str:
    for number, edit in enumerate(defect.edits, 1):
        count = text.count(edit.find)
        if count != 1:
            raise BenchmarkError(
                f"{defect.id}: edit {number}'s `find` occurs {count} times in {defect.file} "
                "(must be exactly once)"
            )
        text = text.replace(edit.find, edit.replace)
    return text


def check_head(repo: Path, library: Library, defect: Defect, head: str) -> None:
    """The edited file compiles, its module imports, the marker is on the expected line."""
    lines = head.splitlines()
    if defect.line > len(lines) or defect.marker not in lines[defect.line - 1]:
        found = [n for n, text in enumerate(lines, 1) if defect.marker in text]
        raise BenchmarkError(
            f"{defect.id}: marker {defect.marker!r} is not on line {defect.line} of "
            f"{defect.file} at head (found on lines {found})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # `x is "a"` is the defect itself
        try:
            compile(head, defect.file, "exec")
        except SyntaxError as exc:
            raise BenchmarkError(f"{defect.id}: {defect.file} does not compile: {exc}") from None
    env = {**os.environ, "PYTHONPATH": str(repo / library.root), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-c", f"import {defect.module}"],
        cwd=repo / library.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"{defect.id}: `import {defect.module}` fails at head: {tail}")


def build_pr(repo: Path, library: Library, defect: Defect) -> None:
    """Branch `pr/ID`: `main` plus the defect's edit, checked (compile, import, line)."""
    path = repo / defect.file
    git(repo, "checkout", "--quiet", "--force", "-B", defect.branch, "main")
    try:
        if not path.is_file():
            raise BenchmarkError(f"{defect.id}: {defect.file} is not a file of {library.label}")
        head = apply_edits(path.read_text(encoding="utf-8"), defect)
        path.write_text(head, encoding="utf-8")
        check_head(repo, library, defect, head)
        git(repo, "add", "--", defect.file)
        git(repo, "commit", "--quiet", "--no-verify", "-m", f"inject {defect.id}")
    finally:
        git(repo, "checkout", "--quiet", "--force", "main")
        git(repo, "clean", "-q", "-f", "-d", "-x")


def touched_lines(repo: Path, branch: str) -> dict[str, set[int]]:
    """Head lines of `main...branch` that the change added or modified, per path."""
    out = git(repo, "diff", "-U0", "--no-color", "--no-ext-diff", f"main...{branch}")
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


# --- 3. the analysis --------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    defect: Defect
    hit: bool
    on_pr_lines: tuple[Finding, ...]  # every finding on the PR's lines, the hit included
    outside: tuple[Finding, ...]  # findings not on a line the PR added or changed
    wall_s: float
    error: str = ""


def analyze(repo: Path, defect: Defect, rules: Path) -> Outcome:
    started = time.perf_counter()
    try:
        settings = read_repo_settings(open_repo(repo), "main", rules_dir=rules).settings
        pipeline = build_pipeline(settings, PipelineConfig(validation="off", rules_dir=rules))
        report = pipeline.run(AnalysisRequest(repo, "main", defect.branch))
        touched = touched_lines(repo, defect.branch)
    except Exception as exc:  # noqa: BLE001 - one failed analysis is reported, not fatal
        wall = time.perf_counter() - started
        return Outcome(defect, False, (), (), wall, f"{type(exc).__name__}: {exc}")
    wall = time.perf_counter() - started
    inside: list[Finding] = []
    outside: list[Finding] = []
    for finding in report.findings:
        lines = touched.get(finding.path, set())
        span = range(finding.start_line, finding.end_line + 1)
        (inside if any(n in lines for n in span) else outside).append(finding)
    hit = any(
        f.rule_id == defect.rule and f.path == defect.file and f.start_line == defect.line
        for f in inside
    )
    return Outcome(defect, hit, tuple(inside), tuple(outside), wall)


# --- 4. output ----------------------------------------------------------------------------


def describe(finding: Finding) -> str:
    span = f"{finding.start_line}" + (
        f"-{finding.end_line}" if finding.end_line != finding.start_line else ""
    )
    return f"{finding.rule_id}@{span}"


def print_outcome(o: Outcome) -> None:
    d = o.defect
    if o.error:
        verdict = f"ERROR ({o.error})"
    elif o.hit:
        verdict = "hit"
    else:
        verdict = "MISSED"
    print(f"{d.id:<42} {d.family:<15} {d.rule}@{d.line}: {verdict} ({o.wall_s:.1f} s)")
    print(f"    form: {d.form}")
    others = [
        describe(f) for f in o.on_pr_lines if not (f.rule_id == d.rule and f.start_line == d.line)
    ]
    if not o.hit and not o.error:
        reported = ", ".join(describe(f) for f in o.on_pr_lines) or "nothing"
        print(f"    reported on the PR's lines: {reported}")
    elif others:
        print(f"    also on the PR's lines: {', '.join(others)}")
    for f in o.outside:
        print(f"    OUTSIDE the PR's lines: {f.path}:{describe(f)}")


def summarize(outcomes: Sequence[Outcome], families: Sequence[str]) -> bool:
    print()
    header = f"{'family':<16}{'injected':>9}{'flagged':>9}{'rate':>8}{'missed':>8}{'outside':>9}"
    print(header)
    print("-" * len(header))
    ok = True
    total_outside = 0
    misses: list[Outcome] = []
    for family in families:
        rows = [o for o in outcomes if o.defect.family == family]
        if not rows:
            continue
        flagged = sum(o.hit for o in rows)
        outside = sum(len(o.outside) for o in rows)
        total_outside += outside
        rate = flagged / len(rows)
        ok = ok and rate >= TARGET
        misses.extend(o for o in rows if not o.hit)
        print(
            f"{family:<16}{len(rows):>9}{flagged:>9}{rate:>8.0%}"
            f"{len(rows) - flagged:>8}{outside:>9}"
        )
    flagged_all = sum(o.hit for o in outcomes)
    print("-" * len(header))
    rate_all = flagged_all / len(outcomes) if outcomes else 0.0
    print(
        f"{'all':<16}{len(outcomes):>9}{flagged_all:>9}{rate_all:>8.0%}"
        f"{len(outcomes) - flagged_all:>8}{total_outside:>9}"
    )
    for o in misses:
        print(f"missed: {o.defect.id} ({o.defect.family}, {o.defect.rule}): {o.defect.form}")
    ok = ok and total_outside == 0 and bool(outcomes)
    print(
        ("PASS" if ok else "FAIL")
        + f": flagged on the right line >= {TARGET:.0%} in every family, "
        + f"{total_outside} findings outside the PR's lines (goal: 0)"
    )
    return ok


# --- 5. main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Inject the corpus' defects into real libraries, one pull request each, "
        "and check that the pipeline reports each on its line and nothing outside the PR."
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.yaml files")
    parser.add_argument("--work", type=Path, default=WORK, help="cache and scratch folder")
    parser.add_argument(
        "--rules", type=Path, default=BUNDLED_RULES_DIR, help="semgrep rules (default: bundled)"
    )
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="one defect")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="one family")
    parser.add_argument("--library", action="append", default=[], metavar="NAME")
    parser.add_argument("--jobs", type=int, default=2, help="analyses run at once (default 2)")
    parser.add_argument(
        "--check", action="store_true", help="build and check the pull requests, analyze none"
    )
    return parser.parse_args(argv)


def selected(libraries: Sequence[Library], args: argparse.Namespace) -> list[Library]:
    out: list[Library] = []
    for lib in libraries:
        if args.library and lib.name not in args.library:
            continue
        defects = tuple(
            d
            for d in lib.defects
            if (not args.only or d.id in args.only) and (not args.family or d.family in args.family)
        )
        if defects:
            out.append(Library(lib.name, lib.version, lib.root, defects))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    rules: Path = args.rules.resolve()
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        corpus = load_corpus(args.corpus)
        known = known_rule_ids(rules)
        unknown = sorted({d.rule for lib in corpus for d in lib.defects} - known)
        if unknown:  # e.g. an older rules folder: those defects can only be missed
            say(f"warning: {rules} has no rule {', '.join(unknown)}")
        libraries = selected(corpus, args)
        if not libraries:
            raise BenchmarkError("no defect selected")
        defects = [d for lib in libraries for d in lib.defects]
        counts = {f: sum(d.family == f for d in defects) for f in FAMILIES}
        print(
            f"corpus: {len(defects)} defects in {len(libraries)} libraries ("
            + ", ".join(f"{lib.label} x{len(lib.defects)}" for lib in libraries)
            + "); "
            + ", ".join(f"{f} {n}" for f, n in counts.items())
        )
        print(f"rules: {rules}", flush=True)
        repos: dict[str, Path] = {}
        for lib in libraries:
            repo = build_base(work, lib)
            repos[lib.label] = repo
            for defect in lib.defects:
                build_pr(repo, lib, defect)
        say(f"{len(defects)} pull requests built and checked")
    except (BenchmarkError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    except (tarfile.TarError, zipfile.BadZipFile, yaml.YAMLError) as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"check: {len(defects)} pull requests apply, compile, import; markers on their lines")
        return 0
    merged_rules_file(rules)  # once, before the analyses run side by side (it is cached)
    # processes, not threads: the pipeline parses Python (radon, ast) in threads of its own,
    # and CPython 3.11's parser is not safe to run in several threads at once
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(analyze, repos[d.library], d, rules) for d in defects]
        outcomes: list[Outcome] = []
        for future in futures:
            outcome = future.result()
            print_outcome(outcome)
            sys.stdout.flush()
            outcomes.append(outcome)
    families = [f for f in FAMILIES if counts[f]]
    summarize(outcomes, families)
    errors = [o for o in outcomes if o.error]
    load_after = os.getloadavg()
    print(
        f"wall time {time.perf_counter() - started:.0f} s for {len(outcomes)} analyses "
        f"({args.jobs} at once); load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after; {os.cpu_count()} cores"
    )
    if errors:
        print(f"{len(errors)} analyses failed", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
