"""Runs the codemods over every function a change touched and keeps what parses."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from provenfix.jobs.generation.codemods.accumulate import (
    DedupeWithDictFromkeys,
    LoopToAnyAll,
    LoopToComprehension,
    StrConcatToJoin,
)
from provenfix.jobs.generation.codemods.expressions import (
    DictKeysIteration,
    LenToTruthiness,
    SortedIndexToMinMax,
)
from provenfix.jobs.generation.codemods.framework import Codemod, FunctionInfo, ModuleInfo, Site
from provenfix.jobs.generation.codemods.hunks import minimal_candidate
from provenfix.jobs.generation.codemods.lookups import HoistLoopLookup, ListMembershipToSet
from provenfix.jobs.generation.codemods.repairs import MutableDefaultArg, OpenWithBlock
from provenfix.jobs.generation.edits import EditError, apply_candidates, parse_error
from provenfix.jobs.report import Candidate, ChangedFile, Finding
from provenfix.jobs.snapshot import FileVersions, Snapshot

Ancestors = tuple[cst.CSTNode, ...]  # the ancestors of a function, module first


def default_codemods() -> list[Codemod]:
    return [
        MutableDefaultArg(),
        OpenWithBlock(),
        ListMembershipToSet(),
        DedupeWithDictFromkeys(),
        StrConcatToJoin(),
        LoopToComprehension(),
        LoopToAnyAll(),
        HoistLoopLookup(),
        DictKeysIteration(),
        LenToTruthiness(),
        SortedIndexToMinMax(),
    ]


class CodemodGenerator:
    """Candidates from libcst codemods, one per application, on touched functions only.

    A function is touched when a line the change added lies in its own code (not
    only in a function nested in it). Each candidate is named `codemod:<name>`,
    replaces the smallest run of whole lines holding the edit, applies to the
    head text and leaves a file that parses.
    """

    name = "codemods"

    def __init__(
        self, codemods: Sequence[Codemod] | None = None, *, max_per_function: int = 20
    ) -> None:
        self.codemods = list(codemods) if codemods is not None else default_codemods()
        self.max_per_function = max_per_function

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        candidates: dict[str, Candidate] = {}
        for versions in snapshot.files:
            for cand in self._file(versions, findings):
                candidates.setdefault(cand.id, cand)
        return list(candidates.values())

    def _file(self, versions: FileVersions, findings: Sequence[Finding]) -> Iterator[Candidate]:
        path, text = versions.change.path, versions.head.text
        touched_spans = _touched_spans(text, versions.change)
        if not touched_spans:  # the cheap check first: most changed lines are not in functions
            return
        try:
            # A fresh parse: nothing else holds the tree, so the metadata wrapper's deep
            # copy (a third of the codemods' time on a large change) is not needed.
            module_node = cst.parse_module(text)
        except cst.ParserSyntaxError:
            return
        module = ModuleInfo(module_node)
        file_findings = [f for f in findings if f.path == path]
        for func, ancestors, def_line, column in _locate(module_node, touched_spans, text):
            info = FunctionInfo(func, module, " " * column)
            render = _FunctionRender(ancestors, func, def_line)
            sites = ((codemod, site) for codemod in self.codemods for site in codemod.sites(info))
            made = 0
            for codemod, site in sites:
                cand = self._candidate(path, text, render, site, codemod, file_findings)
                if cand is not None:
                    yield cand
                    made += 1
                    if made >= self.max_per_function:
                        break

    @staticmethod
    def _candidate(
        path: str,
        text: str,
        render: _FunctionRender,
        site: Site,
        codemod: Codemod,
        findings: Sequence[Finding],
    ) -> Candidate | None:
        before, after, first_line = render.texts(site)
        cand = minimal_candidate(
            path,
            before,
            after,
            kind=codemod.kind,
            source=f"codemod:{codemod.name}",
            description=site.description,
            findings=findings,
            first_line=first_line,
        )
        if cand is None:
            return None
        try:
            new_text = apply_candidates(text, [cand])
        except EditError:
            return None
        return cand if parse_error(path, new_text) is None else None


_MARKER = "__provenfix_codemod_marker__"


class _FunctionRender:
    """Renders one function in place, without rendering the rest of the module.

    The function is put back into copies of its ancestors that keep nothing
    else, so it is indented exactly as in the file; line numbers are shifted
    by where its `def` line is in the file.
    """

    def __init__(self, ancestors: Ancestors, func: cst.FunctionDef, def_line: int) -> None:
        self.ancestors, self.func = ancestors, func
        self.before = self._slim(func).code
        marked = self._slim(func.with_changes(name=cst.Name(_MARKER))).code
        slim_def_line = marked[: marked.index(_MARKER)].count("\n") + 1
        self.first_line = def_line - slim_def_line + 1

    def texts(self, site: Site) -> tuple[str, str, int]:
        if site.target is self.func:
            new = site.replacement
        else:
            new = self.func.deep_replace(site.target, site.replacement)
        assert isinstance(new, cst.FunctionDef)
        return self.before, self._slim(new).code, self.first_line

    def _slim(self, func: cst.FunctionDef) -> cst.Module:
        node: cst.CSTNode = func
        child: cst.CSTNode = self.func
        for ancestor in reversed(self.ancestors):
            replaced = _only_child(ancestor, child, node)
            child, node = ancestor, replaced
        assert isinstance(node, cst.Module)
        return node


def _only_child(parent: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    """`parent` with `old` replaced by `new`; a statement list keeps only that statement."""
    if isinstance(parent, cst.Module | cst.IndentedBlock):
        return parent.with_changes(body=[new])
    for field in dataclasses.fields(parent):
        value = getattr(parent, field.name)
        if value is old:
            return parent.with_changes(**{field.name: new})
        if isinstance(value, tuple | list) and any(v is old for v in value):
            return parent.with_changes(**{field.name: [new if v is old else v for v in value]})
    raise ValueError(f"{type(old).__name__} is not a child of {type(parent).__name__}")


Span = tuple[int, int, int, int]  # first line (decorators included), def line, last, column


def _touched_spans(text: str, change: ChangedFile) -> dict[int, Span]:
    """By preorder index among the module's functions: the functions with an added line in
    their own code (not only in a function nested in them). Found with `ast` (C-fast);
    libcst's position metadata would render the whole module to compute the same."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    spans = [
        (
            min([node.lineno, *(d.lineno for d in node.decorator_list)]),
            node.lineno,
            node.end_lineno or node.lineno,
            node.col_offset,
        )
        for node in _preorder_functions(tree)
    ]
    added = {line for r in change.added for line in range(r.start, r.end + 1)}
    touched: dict[int, Span] = {}
    for index, span in enumerate(spans):
        start, _, end, _ = span
        own = {line for line in added if start <= line <= end}
        for inner_start, _, inner_end, _ in spans:
            if own and start < inner_start <= end:  # a function nested in this one
                own -= set(range(inner_start, inner_end + 1))
        if own:
            touched[index] = span
    return touched


def _preorder_functions(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield child
        if not isinstance(child, ast.expr):  # expressions hold no `def` (handlers, cases do)
            yield from _preorder_functions(child)


def _locate(
    module: cst.Module, touched: Mapping[int, Span], text: str
) -> list[tuple[cst.FunctionDef, Ancestors, int, int]]:
    """The touched libcst functions with their ancestors, `def` line and column. Both
    parsers list a module's functions in the same source order; a mismatch (never
    seen) falls back to libcst's own positions."""
    functions = _functions(module)
    names = _ast_names(text)
    if len(functions) != len(names) or any(
        f.name.value != name for (f, _), name in zip(functions, names, strict=True)
    ):
        return _locate_slowly(module, touched)
    return [
        (functions[index][0], functions[index][1], span[1], span[3])
        for index, span in touched.items()
    ]


def _ast_names(text: str) -> list[str]:
    return [f.name for f in _preorder_functions(ast.parse(text))]


def _locate_slowly(
    module: cst.Module, touched: Mapping[int, Span]
) -> list[tuple[cst.FunctionDef, Ancestors, int, int]]:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions: Mapping[cst.CSTNode, CodeRange] = wrapper.resolve(PositionProvider)
    functions = _functions(module)
    return [
        (
            functions[index][0],
            functions[index][1],
            positions[functions[index][0].name].start.line,
            positions[functions[index][0]].start.column,
        )
        for index in touched
        if index < len(functions)
    ]


def _functions(module: cst.Module) -> list[tuple[cst.FunctionDef, Ancestors]]:
    """Every function of the module with its ancestors."""
    found: list[tuple[cst.FunctionDef, Ancestors]] = []
    stack: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, cst.FunctionDef):
                found.append((node, tuple(stack)))
            stack.append(node)
            # expressions hold no functions: skip them (lambdas are not codemod targets)
            return not isinstance(node, cst.BaseExpression | cst.SimpleStatementLine)

        def on_leave(self, original_node: cst.CSTNode) -> None:
            stack.pop()

    module.visit(Collect())
    return found
