"""The coverage record of a covered session: which test runs which line, child processes
included. Runs INSIDE the sandbox in the pytest process, as `provenfix_cover`.

coverage.py switches context per test in the pytest process (probe_plugin). The Python
processes a test starts run outside that tracer: `Session` makes a folder in the probe's
folder with probe_children.py as `sitecustomize.py`, puts it first on PYTHONPATH,
and before each test names an output folder of that test's own (outside any test, the
`outside` folder). Each Python child measures itself and writes its lines there when it ends
(probe_children). After each test the session reads the test's folder: its lines count for
the test. Files that arrive later come from a process that outlived its test (a server a
fixture shares, a pool left running): they count as run outside any test, like the lines run
at import, so a candidate there is judged by the whole suite. A test that starts no Python
process costs two environment assignments and one failed directory listing.

A test sees these folders in its environment and can write there, as its own code can already
rewrite the probe's coverage in its process: it can make itself selected (harmless: one more
test judges the candidate) or hide what its children ran, as `sys.settrace(None)` hides what
it runs itself. Coverage only chooses the tests; verdicts come from their outcomes, and a
candidate that no test executes is still unproven.
"""

from __future__ import annotations

import contextlib
import json
import os
import py_compile
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenfix.jobs.validation import probe_children as children
else:
    try:
        import provenfix_children as children
    except ImportError:  # imported on the host (tests)
        from provenfix.jobs.validation import probe_children as children

_MAX_FILE_BYTES = 8 * 1024 * 1024
_MAX_SESSION_BYTES = 128 * 1024 * 1024


@dataclass
class ChildLines:
    tests: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # nodeid -> lines
    outside: dict[str, set[int]] = field(default_factory=dict)  # outside any test, or late


@dataclass
class _Current:
    session: Session | None = None
    fork_handler: bool = False


_current = _Current()


class Session:
    """Where the Python children of a covered pytest session write, and what they wrote."""

    def __init__(
        self,
        root: str,
        omit: list[str],
        stop_parent: Callable[[], Any],
        scratch: str | None = None,  # None: the temporary directory
    ) -> None:
        self.stop_parent = stop_parent
        self.base = tempfile.mkdtemp(prefix="provenfix-children-", dir=scratch)
        self.hook = os.path.join(self.base, "hook")
        self.out = os.path.join(self.base, "out")
        os.mkdir(self.hook)
        os.mkdir(self.out)
        hook_file = os.path.join(self.hook, "sitecustomize.py")
        shutil.copyfile(os.path.abspath(children.__file__), hook_file)
        with contextlib.suppress(py_compile.PyCompileError, OSError):
            py_compile.compile(hook_file, doraise=True)  # children load it, not compile it
        self.settings = children.settings_value(root, omit)
        self.saved = {k: os.environ.get(k) for k in ("PYTHONPATH", *_VARS)}
        self.outside_dir = os.path.join(self.out, "outside")
        self.current = self.outside_dir
        self.ran: list[tuple[str, str]] = []  # (folder, nodeid) per test run, in order
        self.lines = ChildLines()
        self.seen: set[str] = set()
        self.bytes_read = 0
        self._point(self.outside_dir)
        _current.session = self
        if not _current.fork_handler:
            _current.fork_handler = True
            os.register_at_fork(after_in_child=_fork_from_session)

    def _point(self, folder: str) -> None:
        """The environment a child started from now on inherits (a test may change it)."""
        env = os.environ
        path = env.get("PYTHONPATH", "")
        if path.split(os.pathsep)[0] != self.hook:
            env["PYTHONPATH"] = self.hook + (os.pathsep + path if path else "")
        if env.get(children.SETTINGS_VAR) != self.settings:
            env[children.SETTINGS_VAR] = self.settings
        env[children.DIR_VAR] = folder

    def enter(self) -> None:
        self.current = os.path.join(self.out, str(len(self.ran)))
        self._point(self.current)

    def leave(self, nodeid: str) -> None:
        self.ran.append((self.current, nodeid))
        found = self._read(self.current)
        if found:
            _merge(self.lines.tests.setdefault(nodeid, {}), found)
        self.current = self.outside_dir
        self._point(self.outside_dir)

    def finish(self) -> ChildLines:
        """Everything read; what came after its test ended counts as outside any test."""
        for folder in [self.outside_dir, *(folder for folder, _ in self.ran)]:
            _merge(self.lines.outside, self._read(folder))
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.base, ignore_errors=True)
        _current.session = None
        return self.lines

    def _read(self, folder: str) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return found  # the usual case: no Python child wrote anything
        for entry in entries:
            if entry.name.startswith(".") or entry.path in self.seen:
                continue
            self.seen.add(entry.path)
            _merge(found, self._load(entry.path))
        return found

    def _load(self, path: str) -> dict[str, set[int]]:
        try:
            size = os.lstat(path).st_size
            if size > _MAX_FILE_BYTES or self.bytes_read + size > _MAX_SESSION_BYTES:
                return {}
            self.bytes_read += size
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
            return dict(_valid_lines(record["lines"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}  # anyone could have written it: what is not a record is nothing


_VARS = (children.SETTINGS_VAR, children.DIR_VAR)


def open_session(
    root: str, omit: list[str], stop_parent: Callable[[], Any], scratch: str
) -> Session | None:
    """A session writing under `scratch` (the probe's folder in the run's directory, removed
    with the run whatever becomes of the tests), else under the temporary directory; None
    where neither can be written, and children are then just not measured."""
    for folder in (scratch, None):
        try:
            return Session(root, omit, stop_parent, folder)
        except OSError:
            continue
    return None


def _valid_lines(raw: dict[str, Any]) -> Iterator[tuple[str, set[int]]]:
    for path, numbers in raw.items():
        parts = str(path).split("/")
        if str(path).startswith("/") or ".." in parts or "" in parts:
            continue
        valid = {n for n in numbers if type(n) is int and n > 0}
        if valid:
            yield str(path), valid


def _merge(into: dict[str, set[int]], found: dict[str, set[int]]) -> None:
    for path, numbers in found.items():
        into.setdefault(path, set()).update(numbers)


def _fork_from_session() -> None:
    """A fork of the pytest process (multiprocessing's fork, a bare os.fork in a test)."""
    session, _current.session = _current.session, None
    if session is None:
        return
    with contextlib.suppress(Exception):  # a test may have stopped it already
        session.stop_parent()  # the probe's tracer: what it holds stays with the parent
    found = children.config()
    if found is not None:
        children.start(*found)


def coverage_record(
    cov: Any, order: list[str], root: str, extra: ChildLines | None
) -> dict[str, Any]:
    """The stream's record: test order, line -> indices of the tests, lines run outside."""
    data = cov.get_data()
    index = {nodeid: i for i, nodeid in enumerate(order)}
    lines: dict[str, dict[int, set[int]]] = {}
    # lines run outside any test (imports, collection, session fixtures): a
    # change there can affect every test
    outside: dict[str, set[int]] = {}
    for filename in data.measured_files():
        real = os.path.realpath(filename)
        if not real.startswith(root + os.sep):
            continue
        rel = os.path.relpath(real, root).replace(os.sep, "/")
        for lineno, contexts in data.contexts_by_lineno(filename).items():
            tests = {index[c] for c in contexts if c in index}
            if tests:
                lines.setdefault(rel, {}).setdefault(lineno, set()).update(tests)
            if any(c not in index for c in contexts):
                outside.setdefault(rel, set()).add(lineno)
    if extra is not None:
        for nodeid, per_file in extra.tests.items():
            if nodeid not in index:  # a test that never reported: like the probe's own lines
                _merge(outside, per_file)
                continue
            for rel, numbers in per_file.items():
                per_line = lines.setdefault(rel, {})
                for lineno in numbers:
                    per_line.setdefault(lineno, set()).add(index[nodeid])
        _merge(outside, extra.outside)
    return {
        "order": list(order),
        "lines": {
            rel: {str(n): sorted(tests) for n, tests in sorted(per_line.items())}
            for rel, per_line in lines.items()
        },
        "outside": {rel: sorted(numbers) for rel, numbers in outside.items() if numbers},
    }
