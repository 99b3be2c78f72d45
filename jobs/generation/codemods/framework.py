"""What every codemod shares: the function it runs on, where it may edit, name facts.

A codemod looks at one function the change touched (`FunctionInfo`) and yields
`Site`s: a node of that function's tree and the node that replaces it. Each site
becomes one candidate, so every application is proven by the tests on its own.
Codemods only rewrite the function's own code, never nested functions or
classes: those are visited as functions of their own when the change touched them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import libcst as cst

from provenfix.jobs.report import SuggestionKind

N = TypeVar("N", bound=cst.CSTNode)

_TARGETED = (cst.AssignTarget, cst.For, cst.CompFor, cst.AnnAssign, cst.AugAssign, cst.NamedExpr)
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
# Nodes through which an exception raised inside may be caught (or suppressed)
# and the function go on running with a half-built result.
_CATCHERS = (cst.Try, cst.TryStar, cst.With)


@dataclass(frozen=True)
class Site:
    target: cst.CSTNode  # a node of the function's tree (compared by identity)
    replacement: cst.CSTNode
    description: str  # one honest sentence


class Codemod(Protocol):
    name: str
    kind: SuggestionKind

    def sites(self, fn: FunctionInfo) -> Iterator[Site]: ...


@dataclass(frozen=True)
class Block:
    node: cst.IndentedBlock
    indent: str  # absolute indentation of the block's statements


class ModuleInfo:
    """Facts about a parsed module, computed once for all its functions."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        collector = _Collector(scoped=False)
        module.visit(collector)
        self.names = frozenset(_bound_names(collector.nodes, module))
        self.imported_modules = frozenset(
            _alias_binding(alias)
            for stmt in module.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
            if isinstance(small, cst.Import)
            for alias in small.names
        )


class FunctionInfo:
    """One function of a parsed module, indexed for the questions codemods ask."""

    def __init__(self, node: cst.FunctionDef, module: ModuleInfo, indent: str) -> None:
        self.node = node
        self.module = module.module
        self.module_names = module.names  # bound at module level
        self.imported_modules = module.imported_modules  # bound by a top-level `import x`
        self.indent = indent  # of the `def` line
        indexer = _Collector(scoped=True, root=node, indent=(indent, module.module.default_indent))
        node.visit(indexer)
        self._block_list = indexer.blocks
        self.parent = indexer.parent
        self.names = indexer.names
        self._own = indexer.own
        self.bound = frozenset(_bound_names(indexer.nodes, node))  # here or in nested code
        self.declared_outer = frozenset(
            item.name.value
            for n in indexer.nodes
            if isinstance(n, cst.Global | cst.Nonlocal)
            for item in n.names
        )

    # -- function facts -------------------------------------------------------
    def is_builtin(self, name: str) -> bool:
        """`name` still means the builtin here: nothing in the module or function rebinds it."""
        return name not in self.bound and name not in self.module_names

    def is_local(self, name: str) -> bool:
        return name not in self.declared_outer

    def fresh(self, base: str) -> str | None:
        """A name used nowhere in the function and bound nowhere in the module."""
        for suffix in ("", *(str(i) for i in range(2, 10))):
            candidate = f"{base}{suffix}"
            if candidate not in self.names and candidate not in self.module_names:
                return candidate
        return None

    # -- tree navigation ------------------------------------------------------
    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Parents of `node`, innermost first, up to and including the function."""
        current = self.parent.get(id(node))
        while current is not None:
            yield current
            if current is self.node:
                return
            current = self.parent.get(id(current))

    def within(self, node: cst.CSTNode, container: cst.CSTNode) -> bool:
        return node is container or any(a is container for a in self.ancestors(node))

    def in_nested_scope(self, node: cst.CSTNode, stop: cst.CSTNode) -> bool:
        """Whether a def, class or lambda lies between `node` and `stop`."""
        for ancestor in self.ancestors(node):
            if ancestor is stop or ancestor is self.node:
                return False
            if isinstance(ancestor, _SCOPES):
                return True
        return False

    def catches_exceptions(self, node: cst.CSTNode) -> bool:
        """Whether a try or with statement of this function encloses `node`."""
        return any(isinstance(a, _CATCHERS) for a in self.ancestors(node))

    def occurrences(self, name: str, inside: cst.CSTNode | None = None) -> list[cst.Name]:
        found = self.names.get(name, [])
        return found if inside is None else [n for n in found if self.within(n, inside)]

    def occurs_outside(self, name: str, *kept: cst.CSTNode) -> list[cst.Name]:
        return [n for n in self.names.get(name, []) if not any(self.within(n, k) for k in kept)]

    def blocks(self) -> list[Block]:
        """The indented blocks of the function's own code, outermost first."""
        return self._block_list

    def own(self, kind: type[N]) -> list[N]:
        """Nodes of `kind` in the function's own code (in source order), outside nested scopes."""
        return [n for n in self._own if isinstance(n, kind)]

    def loop_target_private(self, loop: cst.For) -> bool:
        """Whether the loop variables are read only inside the loop.

        A comprehension's variables do not outlive it, so a loop may only become
        one when nothing after it (or in a closure) could see the last value.
        Other loops and comprehensions that rebind the same name are fine.
        """
        for target in _target_names(loop.target):
            for occurrence in self.occurs_outside(target.value, loop):
                if not self._rebound_around(occurrence, target.value):
                    return False
        return True

    def _rebound_around(self, occurrence: cst.Name, name: str) -> bool:
        child: cst.CSTNode = occurrence
        for ancestor in self.ancestors(occurrence):
            if isinstance(ancestor, cst.For) and _binds_in_body(ancestor, child, name):
                return True
            if isinstance(ancestor, _COMPREHENSIONS) and name in _comprehension_targets(ancestor):
                return True
            child = ancestor
        return False


# -- indexing -------------------------------------------------------------------


class _Collector(cst.CSTVisitor):
    """One pass over a tree: parents, name references, and the nodes outside nested scopes.

    `scoped=False` (a module) does not descend into functions, classes or lambdas.
    """

    def __init__(
        self,
        *,
        scoped: bool,
        root: cst.CSTNode | None = None,
        indent: tuple[str, str] = ("", "    "),  # of the root, and the module's default step
    ) -> None:
        self.scoped, self.root = scoped, root
        self.indents, self.step = [indent[0]], indent[1]
        self.blocks: list[Block] = []
        self.parent: dict[int, cst.CSTNode] = {}
        self.names: dict[str, list[cst.Name]] = {}
        self.nodes: list[cst.CSTNode] = []
        self.own: list[cst.CSTNode] = []
        self._stack: list[cst.CSTNode] = []
        self._nested = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        parent = self._stack[-1] if self._stack else None
        if parent is not None:
            self.parent[id(node)] = parent
        self._stack.append(node)
        self.nodes.append(node)
        if self._nested == 0:
            self.own.append(node)
            if isinstance(node, cst.IndentedBlock):
                self.indents.append(self.indents[-1] + (node.indent or self.step))
                self.blocks.append(Block(node, self.indents[-1]))
        if isinstance(node, cst.Name) and _is_reference(node, parent):
            self.names.setdefault(node.value, []).append(node)
        if node is not self.root and isinstance(node, _SCOPES):
            self._nested += 1
            return self.scoped
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._stack.pop()
        if original_node is not self.root and isinstance(original_node, _SCOPES):
            self._nested -= 1
        if self._nested == 0 and isinstance(original_node, cst.IndentedBlock):
            self.indents.pop()


def _is_reference(node: cst.Name, parent: cst.CSTNode | None) -> bool:
    if isinstance(parent, cst.Attribute) and parent.attr is node:
        return False
    return not (isinstance(parent, cst.Arg) and parent.keyword is node)


def _target_names(target: cst.CSTNode) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, cst.Tuple | cst.List):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _binds_in_body(loop: cst.For, child: cst.CSTNode, name: str) -> bool:
    """Whether `child` of `loop` runs with `name` freshly bound by the loop target."""
    return child is not loop.iter and child is not loop.orelse and name in _names_of(loop.target)


def _names_of(target: cst.CSTNode) -> set[str]:
    return {n.value for n in _target_names(target)}


def _comprehension_targets(node: cst.CSTNode) -> set[str]:
    names: set[str] = set()
    for_in = getattr(node, "for_in", None)
    while isinstance(for_in, cst.CompFor):
        names |= _names_of(for_in.target)
        for_in = for_in.inner_for_in
    return names


def _alias_binding(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    name: cst.BaseExpression = alias.name
    while isinstance(name, cst.Attribute):
        name = name.value
    return name.value if isinstance(name, cst.Name) else ""


def _bound_names(nodes: Sequence[cst.CSTNode], root: cst.CSTNode) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, _TARGETED):
            found |= _names_of(node.target)
        elif isinstance(node, cst.AsName):
            found |= _names_of(node.name)
        elif (isinstance(node, cst.FunctionDef | cst.ClassDef) and node is not root) or isinstance(
            node, cst.Param
        ):
            found.add(node.name.value)
        elif isinstance(node, cst.Import | cst.ImportFrom) and not isinstance(
            node.names, cst.ImportStar
        ):
            found.update(_alias_binding(a) for a in node.names)
    return found
