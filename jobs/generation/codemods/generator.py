"""Runs the codemods over the functions of a changed file and keeps what parses (libcst:
imported by jobs.generation.codemods.focus only when a function is rewritten)."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence

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
from provenfix.jobs.generation.codemods.spans import Span, preorder_functions
from provenfix.jobs.generation.codemods.spans import touched_spans as _touched_spans
from provenfix.jobs.generation.edits import EditError, apply_candidates, parse_error
from provenfix.jobs.report import Candidate
from provenfix.jobs.snapshot import FileVersions

Ancestors = tuple[cst.CSTNode, ...]  # the ancestors of a function, module first
Located = tuple[cst.FunctionDef, Ancestors, int, int]  # with its `def` line and column


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


class FileCodemods:
    """The codemods over one changed file's touched functions.

    A function is touched when a line the change added lies in its own code (not
    only in a function nested in it); `spans` holds them, found with `ast`. The
    libcst module is parsed when candidates are first asked for, and each
    function's candidates are made once: `codemod:<name>`, replacing the smallest
    run of whole lines holding the edit, applying to the head text and leaving a
    file that parses. They link no finding (jobs.generation.codemods.hunks.
    linked_findings does, once the findings are known).
    """

    def __init__(
        self,
        versions: FileVersions,
        codemods: Sequence[Codemod],
        max_per_function: int,
        spans: dict[int, Span] | None = None,
    ) -> None:
        self.path, self.text = versions.change.path, versions.head.text
        self.spans = _touched_spans(self.text, versions.change) if spans is None else spans
        self._codemods, self._max_per_function = codemods, max_per_function
        self._parsed: tuple[ModuleInfo, dict[int, Located]] | None = None
        self._unparsable = False
        self._made: dict[int, list[Candidate]] = {}

    def candidates(self, indexes: Iterable[int]) -> list[Candidate]:
        """The candidates of the touched functions `indexes` (preorder indexes, as in
        `spans`), function by function in file order."""
        wanted = sorted(i for i in set(indexes) if i in self.spans)
        for index in wanted:
            if index not in self._made:
                self._made[index] = list(self._function(index))
        return [cand for index in wanted for cand in self._made[index]]

    def _function(self, index: int) -> Iterator[Candidate]:
        parsed = self._parse()
        if parsed is None or index not in parsed[1]:
            return
        module, located = parsed
        func, ancestors, def_line, column = located[index]
        info = FunctionInfo(func, module, " " * column)
        render = _FunctionRender(ancestors, func, def_line)
        sites = ((codemod, site) for codemod in self._codemods for site in codemod.sites(info))
        made = 0
        for codemod, site in sites:
            cand = _candidate(self.path, self.text, render, site, codemod)
            if cand is not None:
                yield cand
                made += 1
                if made >= self._max_per_function:
                    break

    def _parse(self) -> tuple[ModuleInfo, dict[int, Located]] | None:
        if self._parsed is None and not self._unparsable:
            try:
                # A fresh parse: nothing else holds the tree, so the metadata wrapper's
                # deep copy (a third of the codemods' time on a large change) is not needed.
                module_node = cst.parse_module(self.text)
            except cst.ParserSyntaxError:
                self._unparsable = True
                return None
            located = _locate(module_node, self.spans, self.text)
            self._parsed = (ModuleInfo(module_node), dict(zip(self.spans, located, strict=False)))
        return self._parsed


def _candidate(
    path: str, text: str, render: _FunctionRender, site: Site, codemod: Codemod
) -> Candidate | None:
    before, after, first_line = render.texts(site)
    cand = minimal_candidate(
        path,
        before,
        after,
        kind=codemod.kind,
        source=f"codemod:{codemod.name}",
        description=site.description,
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


def _locate(module: cst.Module, touched: Mapping[int, Span], text: str) -> list[Located]:
    """The touched libcst functions with their ancestors, `def` line and column. Both
    parsers list a module's functions in the same source order; a mismatch (never
    seen) falls back to libcst's own positions."""
    functions = _functions_quickly(module)
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
    return [f.name for f in preorder_functions(ast.parse(text))]


def _locate_slowly(module: cst.Module, touched: Mapping[int, Span]) -> list[Located]:
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


# The fields through which a statement holds other statements, in source order.
_STATEMENT_FIELDS = ("body", "handlers", "orelse", "finalbody", "cases")


def _functions_quickly(module: cst.Module) -> list[tuple[cst.FunctionDef, Ancestors]]:
    """What `_functions` finds, by reading the statement fields: a libcst visitor rebuilds
    every node it enters (a third of a second on a 3000-line module). `_locate` checks the
    result against `ast`'s functions."""
    found: list[tuple[cst.FunctionDef, Ancestors]] = []

    def walk(node: cst.CSTNode, path: Ancestors) -> None:
        for field in _STATEMENT_FIELDS:
            value = getattr(node, field, None)
            for child in value if isinstance(value, tuple | list) else (value,):
                if not isinstance(child, cst.CSTNode) or isinstance(
                    child, cst.BaseExpression | cst.SimpleStatementLine
                ):
                    continue
                if isinstance(child, cst.FunctionDef):
                    found.append((child, path))
                walk(child, (*path, child))

    walk(module, (module,))
    return found
