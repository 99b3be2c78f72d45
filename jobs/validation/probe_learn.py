"""What the warm fork server learns: the third-party modules worth importing once.

Runs INSIDE the sandbox (copied as `provenfix_learn`; imports nothing from
ProvenFix). A child reports, through `Watch`, the modules it loaded from the
image's stdlib or site-packages before its tests first changed the environment
or the working directory, leaving out what pytest rewrites or marks for
rewriting; the server's `Learner` imports them while no run is going on, with
the repository's paths and editable-install finders out of reach, and reports a
taint when an import loaded something from a writable place or started a thread
(a server with threads cannot fork safely).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
import threading
from typing import Any

FORBIDDEN = ("/work", "/tmp", "/dev", "/proc", "/sys")  # writable or not files at all
_NEVER = frozenset({"this", "antigravity", "__main__", "__mp_main__", "conftest"})
_NEVER_TOPS = frozenset({"idlelib", "tkinter", "turtle", "turtledemo", "test"})
_WATCHED = frozenset({"os.putenv", "os.unsetenv", "os.chdir"})
# changed by pytest and the probe themselves; PYTHONPATH only matters to new processes
_OWN_VARIABLES = ("PYTEST_", "PROVENFIX_", "PYTHONPATH")
_MODULE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pyd")
MAX_LEARNED = 5000
MAX_TREE_ENTRIES = 50_000


def allowed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    with contextlib.suppress(AttributeError):
        roots.update(site.getsitepackages())
    return tuple(os.path.realpath(r) + os.sep for r in roots if r and not r.startswith(FORBIDDEN))


def origin_of(module: Any) -> str | None:
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if not isinstance(origin, str) or origin in ("built-in", "frozen"):
        return None
    return os.path.realpath(origin)


def _acceptable(name: str, origin: str, roots: tuple[str, ...]) -> bool:
    parts = name.split(".")
    return (
        len(name) < 200
        and all(part.isidentifier() for part in parts)
        and name not in _NEVER
        and parts[0] not in _NEVER_TOPS
        and origin.startswith(roots)
        and not origin.startswith(tuple(p + os.sep for p in FORBIDDEN))
    )


def tree_names(root: str) -> set[str] | None:
    """Every name a module in the tree could be imported by; None when it is too large to tell."""
    names: set[str] = set()
    seen = 0
    for _, dirs, files in os.walk(root):
        seen += len(dirs) + len(files)
        if seen > MAX_TREE_ENTRIES:
            return None
        names.update(dirs)
        names.update(f.split(".", 1)[0] for f in files if f.endswith(_MODULE_SUFFIXES))
    return names


class Watch:
    """In a child: which modules were loaded before the tests changed the environment or the
    working directory, and which pytest marked for rewriting (never learned)."""

    def __init__(self) -> None:
        self.known = set(sys.modules)
        self.environ = self._environ()
        self.cut: list[str] | None = None
        self.marked: set[str] = set()
        self.spying = self._spy()
        sys.addaudithook(self._hook)

    @staticmethod
    def _environ() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.cut is not None or event not in _WATCHED:
            return
        key = args[0] if args else b""
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if event != "os.chdir" and str(key).startswith(_OWN_VARIABLES):
            return
        self.cut = list(sys.modules)

    def _spy(self) -> bool:
        try:
            from _pytest.assertion.rewrite import AssertionRewritingHook as hook
        except ImportError:
            return False
        mark, find = getattr(hook, "mark_rewrite", None), getattr(hook, "find_spec", None)
        if mark is None or find is None:
            return False
        marked = self.marked

        def mark_rewrite(self: Any, *names: str) -> None:
            marked.update(names)
            mark(self, *names)

        def find_spec(self: Any, name: str, path: Any = None, target: Any = None) -> Any:
            spec = find(self, name, path, target)
            if spec is not None:
                marked.add(name)
            return spec

        setattr(hook, "mark_rewrite", mark_rewrite)  # noqa: B010 - patched in this child only
        setattr(hook, "find_spec", find_spec)  # noqa: B010
        return True

    def learnable(self, roots: tuple[str, ...]) -> list[list[str]]:
        if not self.spying:
            return []
        if self.cut is None and self._environ() != self.environ:
            return []  # changed without an audit event: nothing is known to precede it
        found: list[list[str]] = []
        for name in self.cut if self.cut is not None else list(sys.modules):
            if name in self.known or any(
                name == m or name.startswith(m + ".") for m in self.marked
            ):
                continue
            origin = origin_of(sys.modules.get(name))
            if origin is not None and _acceptable(name, origin, roots):
                found.append([name, origin])
        return found[:MAX_LEARNED]


class Learner:
    """The server's side: what is queued, what was imported, what is never to be."""

    def __init__(self, preload: list[Any], avoid: list[Any]) -> None:
        self.roots = allowed_roots()
        self.avoid = {str(name) for name in avoid}
        self.pending: list[tuple[str, str]] = []
        self.learned: dict[str, str] = {}
        self.taint = ""
        self.queue(preload, None)

    def queue(self, modules: list[Any], tree: set[str] | None) -> list[str]:
        """Queue the valid [name, file] pairs not shadowed by a name in `tree`; their names."""
        queued: list[str] = []
        for item in modules[:MAX_LEARNED]:
            if not (isinstance(item, list) and len(item) == 2):
                continue
            name, origin = str(item[0]), str(item[1])
            top = name.split(".", 1)[0]
            if name in self.learned or name in self.avoid or top in self.avoid:
                continue
            if (tree is not None and top in tree) or not _acceptable(name, origin, self.roots):
                continue
            if len(self.learned) + len(self.pending) < MAX_LEARNED:
                self.pending.append((name, origin))
                queued.append(name)
        return queued

    def shadowed(self, tree: set[str] | None) -> list[str]:
        """Drop what `tree` would shadow from the queue; the loaded modules it shadows."""
        self.pending = [(n, o) for n, o in self.pending if tree and n.split(".", 1)[0] not in tree]
        tops = {name.split(".", 1)[0] for name in self.learned}
        return sorted(tops if tree is None else tops & tree)

    def import_next(self) -> None:
        name, origin = self.pending.pop(0)
        parent = name.rpartition(".")[0]
        if name in sys.modules or (parent and parent not in sys.modules):
            return
        before = set(sys.modules)
        saved_path, saved_meta = sys.path[:], sys.meta_path[:]
        sys.path[:] = [p for p in sys.path if p and not p.startswith("/work") and _plain(p)]
        sys.meta_path[:] = [f for f in sys.meta_path if _plain(getattr(f, "__module__", ""))]
        try:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin and os.path.realpath(spec.origin) == origin:
                importlib.import_module(name)
                self.learned[name] = origin
        except BaseException:  # noqa: BLE001 - a module that fails or exits on import: never again
            self.avoid.add(name)
        finally:
            sys.path[:], sys.meta_path[:] = saved_path, saved_meta
        for new in set(sys.modules) - before:
            where = origin_of(sys.modules.get(new))
            if where is not None and where.startswith(tuple(p + os.sep for p in FORBIDDEN)):
                self.taint = f"importing {name} loaded {new} from {where}"
        if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
            self.taint = f"importing {name} started a thread"
        if self.taint:
            self.avoid.add(name)


def _plain(name: object) -> bool:
    """Not an editable install's path entry or finder (they lead into /work/repo)."""
    return "__editable__" not in str(name)
