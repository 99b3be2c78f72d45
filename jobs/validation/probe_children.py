"""The child side of per-test coverage: a Python process a covered test starts.

Runs INSIDE the sandbox. This file is the `sitecustomize` of every Python child of a covered
pytest session (probe_cover.Session puts it first on PYTHONPATH), and is imported by the
probe as `provenfix_children` for its fork handler; it imports nothing from ProvenFix, and at
startup nothing but `os`, `sys` and `_thread` (built in), so that a child pays almost nothing
until it runs repository code.

The session names two things in the environment: the repository (and what to leave out) and
the folder this process writes to, which is the folder of the test running when the process
started. A process whose main script or an already loaded module is in the repository starts
measuring at once; any other waits, with a meta path finder that finds nothing itself, for
the first module it imports from the repository, and starts just before that module runs.
Measuring is coverage.py, as in the probe, and the lines go to the folder as one JSON file
when the process ends: at exit, through `os._exit` (multiprocessing's fork children end so)
or on SIGTERM (`Pool.terminate`, `Popen.terminate`). A fork child holds a copy of its
parent's tracer and data, and no way out for them: a fork handler starts a fresh
measurement in the child.
"""

from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing would double what a child pays here
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any, NoReturn

SETTINGS_VAR = "PROVENFIX_CHILD_COVERAGE"  # the root, then the folders left out, one a line
DIR_VAR = "PROVENFIX_CHILD_COVERAGE_DIR"  # where this process writes its lines


class _Measure:
    def __init__(self, cov: Any, out: str, root: str) -> None:
        self.cov = cov  # coverage.Coverage
        self.pid = os.getpid()
        self.out = out
        self.root = root
        self.state = "measuring"  # then "flushing", then "done"


class _Process:
    """This process's state (a fork child starts with a copy)."""

    def __init__(self) -> None:
        self.measure: _Measure | None = None
        self.hooks_installed = False
        self.real_exit: Callable[[int], NoReturn] = os._exit


_this = _Process()


def settings_value(root: str, omit: list[str]) -> str:
    return "\n".join([root, *omit])


def config() -> tuple[str, list[str], str] | None:
    """(repository root, folders left out, output folder) when the session asks for them."""
    raw, out = os.environ.get(SETTINGS_VAR), os.environ.get(DIR_VAR)
    if not raw or not out:
        return None
    root, *omit = raw.split("\n")
    return (root, omit, out) if os.path.isabs(root) and os.path.isabs(out) else None


def _inside(path: str, root: str, omit: list[str]) -> bool:
    return path.startswith(root + os.sep) and not any(path.startswith(d + os.sep) for d in omit)


def _under(path: str, root: str, omit: list[str]) -> bool:
    return _inside(os.path.realpath(path), root, omit)


def start_in_child() -> None:
    """Measure this process once it runs repository code (now, if it already does)."""
    found = config()
    if found is None:
        return
    root, omit, _ = found
    main = sys.argv[0] if getattr(sys, "argv", None) else ""  # "-c", "-m" or a script
    loaded = (getattr(m, "__file__", None) or "" for m in list(sys.modules.values()))
    script = main not in ("", "-c", "-m") and os.path.isfile(main) and _under(main, root, omit)
    if script or any(_inside(f, root, omit) for f in loaded):  # this file is left out
        start(*found)
    else:
        sys.meta_path.insert(0, _FirstImport(found))


class _FirstImport:
    """Finds nothing itself: starts the measurement before the first module from the
    repository runs, then leaves the import path."""

    def __init__(self, found: tuple[str, list[str], str]) -> None:
        self.found = found
        self.busy: set[int] = set()  # threads asking the other finders (they may import)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        thread = _thread.get_ident()
        if thread in self.busy:
            return None
        self.busy.add(thread)
        try:
            origin = self._origin(name, path, target)
        finally:
            self.busy.discard(thread)
        root, omit, _ = self.found
        if origin and _under(origin, root, omit):
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            start(*self.found)
        return None

    def _origin(self, name: str, path: Any, target: Any) -> str | None:
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            try:
                spec = find(name, path, target)
            except Exception:  # noqa: BLE001 - the real import that follows reports it
                return None
            if spec is not None:
                origin = getattr(spec, "origin", None)  # or "built-in", "frozen"
                return origin if isinstance(origin, str) and os.path.isabs(origin) else None
        return None

    def invalidate_caches(self) -> None:
        return None


def start(root: str, omit: list[str], out: str) -> None:
    try:
        import atexit

        import coverage

        patterns = [os.path.join(d, "*") for d in omit]
        cov = coverage.Coverage(data_file=None, source=[root], omit=patterns, config_file=False)
        # a child's stderr belongs to the test that reads it: no warnings from us there
        cov._warn_no_data = cov._warn_unimported_source = cov._warn_preimported_source = False
        # nor a walk of the whole repository per child, which coverage.py makes after
        # measuring to list the files that never ran (at 0 %): nothing this record needs
        cov._post_save_work = _nothing  # type: ignore[method-assign]
        cov.start()
    except Exception:  # noqa: BLE001 - no coverage.py here: the child is just not measured
        return
    _this.measure = _Measure(cov, out, root)
    # atexit runs the last registered first: ours must read the data before coverage.py's
    # own handler closes it (it registers again after a fork)
    atexit.unregister(flush)
    atexit.register(flush)
    _install_exit_paths()


def _nothing() -> None:
    return None


def _install_exit_paths() -> None:
    import signal
    import threading

    if not _this.hooks_installed:  # inherited by fork children, like the hooks themselves
        _this.hooks_installed = True
        _this.real_exit = os._exit
        os._exit = _exit_flushing
        os.register_at_fork(after_in_child=_after_fork)
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            return


def _exit_flushing(status: int) -> NoReturn:
    flush()
    _this.real_exit(status)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    import signal

    measure = _this.measure
    if measure is not None and measure.state == "flushing" and measure.pid == os.getpid():
        return  # exiting already (a pool worker ending as it is terminated): let it end
    flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _after_fork() -> None:
    inherited, _this.measure = _this.measure, None
    if inherited is None:
        return  # not measuring yet: a _FirstImport, inherited too, still waits
    import contextlib

    inherited.state = "done"
    with contextlib.suppress(Exception):  # the parent's tracer: the child only needs it off
        inherited.cov.stop()
    found = config()
    if found is not None:
        start(*found)


def flush() -> None:
    """Write the repository lines this process ran (once; a fork child has its own)."""
    measure = _this.measure
    if measure is None or measure.state != "measuring" or measure.pid != os.getpid():
        return
    measure.state = "flushing"
    try:
        measure.cov.stop()
        data = measure.cov.get_data()
        lines: dict[str, list[int]] = {}
        for filename in data.measured_files():
            real = os.path.realpath(filename)
            numbers = data.lines(filename)
            if real.startswith(measure.root + os.sep) and numbers:
                lines[os.path.relpath(real, measure.root).replace(os.sep, "/")] = sorted(numbers)
        if lines:
            _write(measure.out, {"lines": lines})
    except Exception:  # noqa: BLE001 - best effort at exit: nothing may break the child
        return
    finally:
        measure.state = "done"


def _write(folder: str, record: dict[str, Any]) -> None:
    import contextlib
    import json

    # mkdir, not makedirs: once the session is over its folders are gone, and stay gone
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder)
    name = f"{os.getpid()}-{os.urandom(4).hex()}.json"
    partial = os.path.join(folder, "." + name)
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle, separators=(",", ":"))
    os.replace(partial, os.path.join(folder, name))  # the session never reads half a file


def _chain_sitecustomize() -> None:
    """Run the sitecustomize this file shadows (Debian's, say), as Python would have."""
    import importlib.machinery  # importlib.util would cost a child more than all the rest

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or spec.origin is None:
        return
    module = type(sys)("sitecustomize")
    module.__file__, module.__spec__, module.__loader__ = spec.origin, spec, spec.loader
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _at_startup() -> None:
    try:
        start_in_child()
    except Exception:  # noqa: BLE001 - never the child's problem
        return


if __name__ == "sitecustomize":
    _at_startup()
    _chain_sitecustomize()
