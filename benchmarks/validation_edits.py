"""The candidates benchmarks/validation_speed.py proves: edits of a real library's functions.

For a function the tests cover:

- a refactoring: `return EXPR` becomes `_pf_result = EXPR` / `return _pf_result` (harmless:
  the verdict must be `passed`); the same edit proposed as an optimization;
- a mutation: a comparison (`==`/`!=`, `<`/`>=`, `is`/`is not`, `in`/`not in`, ...) or a
  `+`/`-` flipped on a covered line (the full suite decides whether it is detected);
- its repair: the mutated line restored, proposed against a head holding the mutation.
"""

from __future__ import annotations

import ast
import random
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenfix.jobs.generation.edits import (
    apply_candidates,
    candidate_id,
    line_candidate,
    parse_error,
)
from provenfix.jobs.report import Candidate, ChangedFile, SuggestionKind
from provenfix.jobs.snapshot import FileVersions, Snapshot
from provenfix.jobs.source import parse
from provenfix.jobs.validation.probe import CoverageMap
from provenfix.jobs.validation.replay import is_test_path

TEMP_NAME = "_pf_result"
SOURCE = "benchmark"
COMPARE_FLIPS: dict[type[ast.cmpop], tuple[str, str]] = {
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.Lt: ("<", ">="),
    ast.LtE: ("<=", ">"),
    ast.Gt: (">", "<="),
    ast.GtE: (">=", "<"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
}
BINOP_FLIPS: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
}
Func = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class FunctionEdits:
    path: str
    qualname: str
    refactors: tuple[Candidate, ...]
    mutations: tuple[Candidate, ...]


def own_nodes(func: Func) -> Iterator[ast.AST]:
    """The nodes of `func`'s body, not those of functions, lambdas or classes inside it,
    nor those inside f-strings (whose positions are unreliable before Python 3.12)."""
    pending: list[ast.AST] = list(func.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.JoinedStr):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def functions_of(tree: ast.Module) -> Iterator[tuple[str, Func]]:
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, Func]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(tree, "")


class SourceText:
    """One file's text with byte offsets of its lines (AST columns are UTF-8 byte offsets)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.data = text.encode()
        self.lines = self.data.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def line(self, lineno: int) -> bytes:
        return self.lines[lineno - 1].rstrip(b"\r\n")

    def offset(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + col

    def candidate(
        self, lineno: int, cols: tuple[int, int], fragment: str, kind: SuggestionKind, what: str
    ) -> Candidate | None:
        span = (self.offset(lineno, cols[0]), self.offset(lineno, cols[1]))
        cand = line_candidate(
            self.text,
            span,
            fragment,
            path=self.path,
            finding_ids=(),
            kind=kind,
            source=SOURCE,
            description=what,
        )
        if parse_error(self.path, apply_candidates(self.text, [cand])) is not None:
            return None
        return cand


def refactor_sites(src: SourceText, func: Func, covered: set[int]) -> list[Candidate]:
    """`return EXPR` -> `_pf_result = EXPR` + `return _pf_result`, on covered lines."""
    found: list[Candidate] = []
    for node in own_nodes(func):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        if node.lineno != node.end_lineno or node.lineno not in covered:
            continue
        if isinstance(node.value, ast.Yield | ast.YieldFrom | ast.NamedExpr):
            continue
        line = src.line(node.lineno)
        end = node.end_col_offset or 0
        before, after = line[: node.col_offset], line[end:].strip()
        if before.strip() or (after and not after.startswith(b"#")):
            continue  # not alone on its line (`if x: return y`, `a; return b`)
        value = line[node.value.col_offset : node.value.end_col_offset].decode()
        indent = before.decode()
        fragment = f"{TEMP_NAME} = {value}\n{indent}return {TEMP_NAME}"
        what = f"line {node.lineno}: return through a temporary variable"
        cand = src.candidate(
            node.lineno, (node.col_offset, end), fragment, SuggestionKind.REFACTOR, what
        )
        if cand is not None:
            found.append(cand)
    return sorted(found, key=lambda c: c.start_line)


def mutation_sites(src: SourceText, func: Func, covered: set[int]) -> list[Candidate]:
    """One comparison or +/- operator flipped, on a covered single-line expression."""
    found: list[Candidate] = []
    for node in own_nodes(func):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            flip = COMPARE_FLIPS.get(type(node.ops[0]))
            left, right = node.left, node.comparators[0]
        elif isinstance(node, ast.BinOp):
            flip = BINOP_FLIPS.get(type(node.op))
            left, right = node.left, node.right
        else:
            continue
        if flip is None:
            continue
        if node.lineno != node.end_lineno or node.lineno not in covered:
            continue
        if node.lineno == func.lineno:
            continue
        line = src.line(node.lineno)
        gap_start, gap_end = left.end_col_offset or 0, right.col_offset
        gap = line[gap_start:gap_end].decode(errors="replace")
        core = gap.strip(" \t()")
        if core != flip[0]:
            continue  # a comment or a line continuation in between: leave it
        col = gap_start + len(gap) - len(gap.lstrip(" \t()"))  # the gap is ASCII here
        what = f"line {node.lineno}: `{flip[0]}` -> `{flip[1]}`"
        cand = src.candidate(
            node.lineno, (col, col + len(flip[0].encode())), flip[1], SuggestionKind.REPAIR, what
        )
        if cand is not None:
            found.append(cand)
    return sorted(found, key=lambda c: (c.start_line, c.original, c.replacement))


def plan_edits(head_tree: Path, coverage: CoverageMap, seed: int) -> list[FunctionEdits]:
    """Every covered library function with both kinds of sites, in a seeded order."""
    plans: list[FunctionEdits] = []
    for path in sorted(coverage.lines):
        if is_test_path(path) or not path.endswith(".py"):
            continue
        covered = {line for line, tests in coverage.lines[path].items() if tests}
        try:
            text = (head_tree / path).read_text(encoding="utf-8")
            tree = ast.parse(text, filename=path)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        src = SourceText(path, text)
        for qualname, func in functions_of(tree):
            refactors = refactor_sites(src, func, covered)
            mutations = mutation_sites(src, func, covered)
            if refactors and mutations:
                plans.append(FunctionEdits(path, qualname, tuple(refactors), tuple(mutations)))
    random.Random(seed).shuffle(plans)
    return plans


def snapshot_for(head_tree: Path, candidates: Sequence[Candidate], root: Path) -> Snapshot:
    """The snapshot the pipeline would hold if the candidates' files were the change."""
    files: list[FileVersions] = []
    for path in sorted({c.path for c in candidates}):
        lines = [c.lines for c in candidates if c.path == path]
        head = parse(path, (head_tree / path).read_bytes())
        files.append(FileVersions(ChangedFile(path, path, tuple(lines), tuple(lines)), head, head))
    return Snapshot(root=root, files=tuple(files), skipped=())


def apply_to_copy(head_tree: Path, cand: Candidate, dest: Path) -> Path:
    return apply_all(head_tree, [cand], dest)


def as_optimization(refactor: Candidate) -> Candidate:
    """The same edit proposed as an optimization: its proof also runs the micro-benchmark."""
    return Candidate(
        id=f"{refactor.id}-opt",
        finding_ids=(),
        kind=SuggestionKind.OPTIMIZATION,
        source=SOURCE,
        path=refactor.path,
        start_line=refactor.start_line,
        end_line=refactor.end_line,
        original=refactor.original,
        replacement=refactor.replacement,
        description=refactor.description + " (as an optimization)",
    )


def repair_of(mutation: Candidate) -> Candidate:
    """The candidate that undoes `mutation`, for a head that holds it (one line, so the
    lines are the same)."""
    return Candidate(
        id=candidate_id(
            mutation.path, mutation.start_line, mutation.replacement, mutation.original, SOURCE
        ),
        finding_ids=(),
        kind=SuggestionKind.REPAIR,
        source=SOURCE,
        path=mutation.path,
        start_line=mutation.start_line,
        end_line=mutation.end_line,
        original=mutation.replacement,
        replacement=mutation.original,
        description=mutation.description.replace("->", "restored from"),
    )


def apply_all(head_tree: Path, candidates: Sequence[Candidate], dest: Path) -> Path:
    """A copy of head_tree with every candidate applied (non-overlapping ones)."""
    shutil.copytree(head_tree, dest, symlinks=True)
    for path in sorted({c.path for c in candidates}):
        target = dest / path
        text = target.read_text(encoding="utf-8")
        target.write_text(
            apply_candidates(text, [c for c in candidates if c.path == path]), encoding="utf-8"
        )
    return dest
