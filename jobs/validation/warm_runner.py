"""The TestRunner on warm sandboxes: one fork server per container, kept for the analysis.

A run is the same plan the one-shot driver runs (jobs.validation.testrun), sent
as one request to a warm container's server (probe_server.py, see
jobs.sandbox.warm); the run's tree is a fresh copy the host puts at the
container's /work/repo first. Up to `parallel` containers serve runs at once,
each one run at a time. A container whose server reports a taint is replaced
before its next run; one whose server dies or stops answering is replaced and
the run tried once more in the fresh one, which the run's detail then says.
Containers start at the first run that needs one and stop at `close()` (the
analysis' end); a later run starts new ones. With `reuse=False`
(PROVENFIX_SANDBOX_WARM=false) every run gets a fresh container, started and
removed for it, with the same server and channel: the cost of a cold run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from provenfix.jobs.sandbox.errors import SandboxError, WorkdirError
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import SandboxLimits
from provenfix.jobs.sandbox.warm import (
    ANSWER_GRACE_S,
    Exchange,
    WarmContainer,
    WarmSpec,
    image_volumes,
    parallel_runs,
)
from provenfix.jobs.sandbox.workdir import clear_workdir, prepare_workdir, remove_workdir
from provenfix.jobs.validation.probe import PROBE_DIR, SANDBOX_MODULES
from provenfix.jobs.validation.testrun import (
    STREAM_CAP_BYTES,
    Plan,
    PlanRun,
    collect_plan_run,
    step_json,
)

# host module -> its name in the server's read-only folder
SERVER_MODULES = {
    **SANDBOX_MODULES,
    "probe_server.py": "provenfix_server.py",
    "probe_learn.py": "provenfix_learn.py",
}
SERVER_COMMAND = ("python", "-m", "provenfix_server")
MAX_REFUSALS = 3  # fresh servers in a row for one run (a tree that shadows a learned module)


class _Slot:
    """One place for a warm container; the pool hands out slots, one run each."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.server: WarmContainer | None = None


class WarmTestRunner:
    """TestRunner whose runs go to warm fork servers (see the module's docstring)."""

    def __init__(
        self,
        sandbox: DockerSandbox,
        image: str,
        scratch: Path,
        *,
        limits: SandboxLimits | None = None,
        pytest_args: Sequence[str] = (),
        parallel: int | None = None,
        lifetime_s: float | None = None,
        reuse: bool = True,
    ) -> None:
        settings = sandbox.settings
        self._sandbox = sandbox
        self._image = image
        self._scratch = scratch
        base = limits or settings.limits
        self._limits = dataclasses.replace(
            base, output_cap_bytes=max(base.output_cap_bytes, STREAM_CAP_BYTES)
        )
        self._pytest_args = tuple(pytest_args)
        setting = settings.parallel if parallel is None else parallel
        self._parallel = parallel_runs(sandbox.client, self._limits, setting)
        self._lifetime_s = lifetime_s or settings.warm_lifetime_s
        self._longest_run_s = self._limits.timeout_s + ANSWER_GRACE_S
        self.reuse = reuse  # False: a fresh container for every run, nothing learned
        self._lock = threading.Condition()
        self._free = [_Slot(i) for i in range(self._parallel)]
        self._slots = tuple(self._free)
        self._ids = itertools.count()
        self._preload: dict[str, str] = {}  # what the servers learned: name -> file
        self._avoid: set[str] = set()
        self._watch: list[str] | None = None
        self._spec: WarmSpec | None = None
        self.containers_started = 0
        self.replaced = 0  # containers replaced after a taint, a refusal or a death

    @property
    def parallelism(self) -> int:
        return self._parallel

    def __enter__(self) -> WarmTestRunner:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every container (a later run starts new ones)."""
        with self._lock:
            servers = [slot.server for slot in self._slots if slot.server is not None]
            for slot in self._slots:
                slot.server = None
        failure: SandboxError | None = None
        for server in servers:
            try:
                server.close()
                remove_workdir(server.repo.parent)
            except SandboxError as exc:  # close the others all the same
                failure = failure or exc
        if failure is not None:
            raise failure

    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        with self._lock:
            while not self._free:
                self._lock.wait()
            slot = self._free.pop()
        try:
            return self._run(slot, tree, plan)
        finally:
            with self._lock:
                self._free.append(slot)
                self._lock.notify()

    # --- one run ------------------------------------------------------------------------

    def _run(self, slot: _Slot, tree: Path, plan: Plan) -> PlanRun:
        timeout_s = self._limits.timeout_s
        request: dict[str, Any] = {
            "steps": [step_json(s, timeout_s, self._pytest_args) for s in plan.steps],
            "versions": dict(plan.head_versions),
            "timeout_s": timeout_s,
        }
        notes: list[str] = []
        seconds = 0.0
        deaths = refusals = 0
        while True:
            server = self._server(slot)
            try:
                prepare_workdir(tree, server.repo, exclude={".git", PROBE_DIR}, into_empty=True)
                request["id"] = next(self._ids)
                exchange = server.exchange(request, timeout_s, cap_bytes=STREAM_CAP_BYTES)
            except BaseException:
                self._drop(slot)  # its folder may hold half a tree
                raise
            seconds += exchange.duration_s
            end = exchange.end
            if end is None:  # the server is gone: its container too
                self._drop(slot)
                deaths += 1
                if deaths == 1:
                    notes.append(f"{exchange.problem}; the run was retried in a fresh container")
                    continue
                return self._result(exchange, [*notes, exchange.problem], seconds)
            clear_workdir(server.repo)
            self._remember(end)
            if end.get("refused"):
                self._drop(slot)
                refusals += 1
                if refusals < MAX_REFUSALS:
                    continue
                refused = f"the test server refused the run: {end['refused']}"
                return PlanRun({}, "; ".join([*notes, refused]), seconds)
            if end.get("taint") or not self.reuse:  # the next run gets a new container
                self._drop(slot)
            return self._result(exchange, notes, seconds)

    def _result(self, exchange: Exchange, notes: list[str], seconds: float) -> PlanRun:
        end = exchange.end or {}
        trouble = ""
        if exchange.end is not None and not end.get("finished"):
            trouble = str(end.get("error") or f"timed out after {self._limits.timeout_s:g} s")
        if exchange.overflow:
            trouble = "the test run's output passed its cap"
        tail = exchange.stderr_tail.strip().splitlines()[-3:]
        if (trouble or exchange.end is None) and tail:
            trouble += (": " if trouble else "") + " | ".join(tail)
        text = b"\n".join(exchange.lines).decode("utf-8", errors="replace")
        return collect_plan_run(text, "; ".join(n for n in [*notes, trouble] if n), seconds)

    def _remember(self, end: Mapping[str, Any]) -> None:
        with self._lock:
            for item in end.get("learned") or []:
                if isinstance(item, list) and len(item) == 2:
                    self._preload.setdefault(str(item[0]), str(item[1]))
            self._avoid.update(str(name) for name in end.get("avoid") or [])

    # --- containers ---------------------------------------------------------------------

    def _server(self, slot: _Slot) -> WarmContainer:
        server = slot.server
        lasts = server is not None and server.alive
        if server is not None and lasts and not server.expires_within(self._longest_run_s):
            return server
        if server is not None:
            self._drop(slot)
        spec = self._spec or self._make_spec()
        with self._lock:
            self.containers_started += 1
            number = self.containers_started
            preload = self._preload.items() if self.reuse else ()
            setup = {
                "preload": [[n, o] for n, o in preload if n not in self._avoid],
                "avoid": sorted(self._avoid),
                "watch": self._watch or [],
            }
        area = self._scratch / f"warm-{number}"
        area.mkdir(parents=True)
        fresh = WarmContainer(self._sandbox.client, spec, area / "repo")
        try:
            fresh.start(setup)
        except BaseException:
            remove_workdir(area)
            raise
        slot.server = fresh
        return fresh

    def _drop(self, slot: _Slot) -> None:
        server, slot.server = slot.server, None
        if server is not None:
            with self._lock:
                self.replaced += 1
            server.close()
            with contextlib.suppress(OSError, WorkdirError):
                remove_workdir(server.repo.parent)

    def _make_spec(self) -> WarmSpec:
        with self._lock:
            if self._spec is not None:
                return self._spec
            files = self._scratch / "warm-server"
            files.mkdir(parents=True, exist_ok=True)
            files.chmod(0o755)
            here = Path(__file__).parent
            for source, target in SERVER_MODULES.items():
                path = files / target
                path.write_text((here / source).read_text(encoding="utf-8"), encoding="utf-8")
                path.chmod(0o644)
            self._watch = image_volumes(self._sandbox.client, self._image)
            self._spec = WarmSpec(
                image=self._image,
                limits=self._limits,
                server_command=SERVER_COMMAND,
                server_files=files,
                lifetime_s=self._lifetime_s,
                owner=self._sandbox.settings.owner,
                environment={},
            )
            return self._spec
