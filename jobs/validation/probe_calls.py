"""Recording calls into changed functions, replaying them, timing them. Runs INSIDE the sandbox.

Copied beside the probe as `provenfix_calls`, so it imports nothing from ProvenFix.

- `Recorder` wraps the target functions as their modules are imported (before
  collection, so `from mod import f` in a test module gets the wrapper) and keeps,
  per function, up to `max_calls` distinct calls: the arguments (encoded before
  the call), the result or the exception type, and the arguments afterwards (a
  function that mutates its input shows it there).
- `replay` loads the head version of a module from its source beside the
  candidate's module and calls both with the same recorded arguments.
- `bench` times head against the candidate on those calls, interleaved.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenfix.jobs.validation import probe_values as values
else:
    try:
        import provenfix_values as values
    except ImportError:  # imported on the host (tests)
        from provenfix.jobs.validation import probe_values as values

CALL_TIMEOUT_S = 2.0
_INTROSPECTS = frozenset({"_getframe", "currentframe", "stack", "getouterframes", "f_back"})
MAX_RECORDED_BYTES = 4_000_000  # per function: the stream and the host stay small
Emit = Callable[[dict[str, Any]], None]


class _Target:
    def __init__(self, spec: dict[str, Any], root: str) -> None:
        self.path = str(spec["path"])
        self.qualname = str(spec["qualname"])
        self.first = int(spec.get("line", 0))
        self.last = int(spec.get("end", 10**9))
        self.file = os.path.realpath(os.path.join(root, self.path))
        self.module = ""
        self.calls: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.total = 0
        self.not_replayable = 0
        self.size = 0  # characters of the calls kept
        self.wrapped = False


class Recorder:
    def __init__(self, targets: Sequence[dict[str, Any]], root: str, max_calls: int) -> None:
        self._targets = [_Target(t, root) for t in targets]
        self._max = max_calls
        self._active = False

    def install(self) -> None:
        if not self._targets:
            return
        sys.meta_path.insert(0, _WrappingFinder(self))
        for module in list(sys.modules.values()):  # imported before us (rare)
            self.wrap_module(module)

    def start(self) -> None:
        self._active = True

    def stop(self) -> None:
        self._active = False

    def files(self) -> set[str]:
        return {t.file for t in self._targets}

    def wrap_module(self, module: types.ModuleType) -> None:
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            return
        real = os.path.realpath(filename)
        for target in self._targets:
            if target.file == real and not target.wrapped:
                self._wrap(module, target)

    def _wrap(self, module: types.ModuleType, target: _Target) -> None:
        owner: Any = module
        parts = target.qualname.split(".")
        for part in parts[:-1]:
            owner = owner.__dict__.get(part) if hasattr(owner, "__dict__") else None
            if not isinstance(owner, type):
                return
        function = owner.__dict__.get(parts[-1])
        if not isinstance(function, types.FunctionType):
            return  # decorated, a staticmethod, not there: its calls are not recorded
        if _INTROSPECTS.intersection(function.__code__.co_names):
            return  # it looks at its caller's frame: a wrapper would be what it sees
        code = function.__code__
        if os.path.realpath(code.co_filename) != target.file or code.co_firstlineno > target.last:
            return
        target.module = module.__name__
        target.wrapped = True
        setattr(owner, parts[-1], self._wrapper(function, target))

    def _wrapper(self, function: Callable[..., Any], target: _Target) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(function)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if not recorder._active:
                return function(*args, **kwargs)
            target.total += 1
            try:
                before = values.encode([list(args), kwargs])
            except values.Unencodable:
                target.not_replayable += 1
                return function(*args, **kwargs)
            key = values.canonical(before)
            if (
                key in target.seen
                or len(target.calls) >= recorder._max
                or target.size > MAX_RECORDED_BYTES
            ):
                return function(*args, **kwargs)
            target.seen.add(key)
            recorder._active = False  # calls it makes itself are part of this one
            try:
                outcome = _outcome(function, args, kwargs, before_args=before)
            finally:
                recorder._active = True
            target.calls.append({"args": before, **outcome["record"]})
            target.size += len(key) + len(values.canonical(outcome["record"]))
            if "error" in outcome:
                raise outcome["error"]
            return outcome["result"]

        return recorded

    def report(self) -> list[dict[str, Any]]:
        return [
            {
                "path": t.path,
                "qualname": t.qualname,
                "module": t.module,
                "wrapped": t.wrapped,
                "total": t.total,
                "not_replayable": t.not_replayable,
                "calls": t.calls,
            }
            for t in self._targets
        ]


def _outcome(
    function: Callable[..., Any], args: Any, kwargs: Any, *, before_args: Any
) -> dict[str, Any]:
    try:
        result = function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception type is the recorded behaviour
        return {"record": {"raises": type(exc).__qualname__}, "error": exc}
    record: dict[str, Any] = {}
    try:
        record["result"] = values.encode(result)
    except values.Unencodable as exc:
        record["unencodable"] = str(exc)
    try:
        after = values.encode([list(args), kwargs])
        if after != before_args:
            record["after"] = after
    except values.Unencodable:
        record["unencodable"] = "arguments changed into unencodable values"
    return {"record": record, "result": result}


class _WrappingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._files = recorder.files()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            origin = spec.origin
            if (
                isinstance(origin, str)
                and os.path.realpath(origin) in self._files
                and isinstance(spec.loader, importlib.abc.Loader)
            ):
                spec.loader = _WrappingLoader(spec.loader, self._recorder)
            return spec
        return None


class _WrappingLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        self._recorder.wrap_module(module)


# --- replay -------------------------------------------------------------------------------


def _lookup(module: types.ModuleType, qualname: str) -> Callable[..., Any] | None:
    owner: Any = module
    for part in qualname.split("."):
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    return owner if isinstance(owner, types.FunctionType) else None


def _fresh_module(module: types.ModuleType, text: str) -> types.ModuleType:
    """A new module object like `module`, executed from `text` (tests' state left behind)."""
    fresh = types.ModuleType(module.__name__)
    fresh.__file__ = module.__file__
    fresh.__package__ = module.__package__
    fresh.__spec__ = module.__spec__
    if hasattr(module, "__path__"):
        fresh.__path__ = module.__path__
    saved = sys.modules.get(module.__name__)
    sys.modules[module.__name__] = fresh  # dataclasses and pickling look it up
    try:
        code = compile(text, str(module.__file__), "exec")
        exec(code, fresh.__dict__)
    finally:
        if saved is not None:
            sys.modules[module.__name__] = saved
    return fresh


def load_versions(
    spec: dict[str, Any], head_text: str, cand_text: str | None = None
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(head function, candidate function), each from a fresh module of its own source.

    Without `cand_text` the candidate is the tree's module as imported.
    """
    module = importlib.import_module(str(spec["module"]))
    qualname = str(spec["qualname"])
    head = _lookup(_fresh_module(module, head_text), qualname)
    source = module if cand_text is None else _fresh_module(module, cand_text)
    candidate = _lookup(source, qualname)
    if candidate is None or head is None:
        raise LookupError(f"{qualname} is not a plain function in {module.__name__}")
    return head, candidate


class _CallTimeout(BaseException):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _CallTimeout


def call_once(function: Callable[..., Any], encoded_args: Any) -> dict[str, Any]:
    """One call with a fresh copy of the arguments: what it returned or raised, encoded."""
    args, kwargs = values.decode(encoded_args)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, CALL_TIMEOUT_S)
    try:
        outcome: dict[str, Any] = _outcome(function, args, kwargs, before_args=encoded_args)[
            "record"
        ]
    except _CallTimeout:
        outcome = {"timeout": CALL_TIMEOUT_S}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return outcome


def replay(spec: dict[str, Any], head_text: str, cand_text: str | None, emit: Emit) -> None:
    name = {"path": spec["path"], "qualname": spec["qualname"]}
    try:
        head, candidate = load_versions(spec, head_text, cand_text)
    except Exception as exc:  # noqa: BLE001 - the repository's import errors are data
        emit({"t": "replay", **name, "error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    results = []
    for call in spec.get("calls", []):
        results.append({"head": call_once(head, call), "cand": call_once(candidate, call)})
    emit({"t": "replay", **name, "results": results})
    rounds = int(spec.get("bench_rounds", 0))
    if rounds and spec.get("calls"):
        emit({"t": "bench", **name, **bench(head, candidate, spec["calls"], rounds)})


def bench(
    head: Callable[..., Any],
    candidate: Callable[..., Any],
    calls: Sequence[Any],
    rounds: int,
    *,
    budget_s: float = 3.0,
) -> dict[str, Any]:
    """Seconds per pass over `calls`, head and candidate interleaved, alternating who goes first."""

    def one_pass(function: Callable[..., Any], repeat: int) -> float:
        copies = [values.decode(c) for c in calls for _ in range(repeat)]  # fresh, untimed
        started = time.perf_counter()
        for args, kwargs in copies:
            with contextlib.suppress(Exception):  # replay showed both raise alike
                function(*args, **kwargs)
        return (time.perf_counter() - started) / repeat

    single = max(one_pass(head, 1), 1e-7)
    repeat = max(1, min(10000, int(0.01 / single)))  # about 10 ms a pass
    rounds = max(3, min(rounds, int(budget_s / (2 * max(single * repeat, 1e-4)))))
    head_times: list[float] = []
    cand_times: list[float] = []
    for index in range(rounds):
        order = ((head, head_times), (candidate, cand_times))
        for function, times in order if index % 2 == 0 else reversed(order):
            times.append(one_pass(function, repeat))
    return {"head_s": head_times, "cand_s": cand_times, "repeat": repeat, "calls": len(calls)}
