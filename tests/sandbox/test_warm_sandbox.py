"""The warm sandbox on the real engine: one container and fork server for many runs.

Every run must behave as in a throw-away container: the repository imported
fresh, nothing a run leaves behind seen by the next, the same hardening in each
test process, a hung or crashing test process ending alone, a server a test
kills or taints replaced, and verdicts proven in parallel equal to one by one.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import docker
import pytest
from sandbox_support import host_processes_with, sandbox_containers, write_tree

from provenfix.jobs.sandbox.env_image import EnvImage
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import SandboxLimits, settings_from_env
from provenfix.jobs.sandbox.warm import WARM_LABEL
from provenfix.jobs.validation import testrun
from provenfix.jobs.validation.stage import DockerTestEnvironment
from provenfix.jobs.validation.testrun import Plan, Step, run_tests
from provenfix.jobs.validation.warm_runner import WarmTestRunner

pytestmark = pytest.mark.docker

MakeRunner = Callable[..., WarmTestRunner]


@pytest.fixture
def warm(sandbox: DockerSandbox, plain_env: EnvImage, tmp_path: Path) -> Iterator[MakeRunner]:
    """Warm runners on the plain environment image, closed when the test ends."""
    with ExitStack() as stack:
        made = 0

        def make(
            *, limits: SandboxLimits | None = None, parallel: int = 1, reuse: bool = True
        ) -> WarmTestRunner:
            nonlocal made
            made += 1
            scratch = tmp_path / f"warm-{made}"
            runner = WarmTestRunner(
                sandbox, plain_env.tag, scratch, limits=limits, parallel=parallel, reuse=reuse
            )
            return stack.enter_context(runner)

        yield make


def run(runner: testrun.TestRunner, tmp_path: Path, files: dict[str, str]) -> testrun.TestRun:
    tree = write_tree(tmp_path / f"tree-{random.randrange(1 << 30):x}", files)
    return run_tests(runner, tree, None)


def outcomes(result: testrun.TestRun) -> dict[str, str]:
    assert result.result is not None, result.detail
    return {nodeid.split("::")[-1]: t.outcome for nodeid, t in result.result.tests.items()}


COUNTER = {
    "counter.py": "CALLS = []\n",
    "test_counter.py": textwrap.dedent(
        """\
        import sys
        PRELOADED = "fractions" in sys.modules  # stdlib, imported by no one but this test
        import fractions
        import counter

        def test_module_state_starts_fresh():
            counter.CALLS.append(1)
            assert counter.CALLS == [1]

        def test_fractions_was_preloaded():
            assert PRELOADED
        """
    ),
}


def test_one_container_serves_every_run_and_imports_the_repository_fresh(
    warm: MakeRunner, docker_client: docker.DockerClient, sandbox: DockerSandbox, tmp_path: Path
) -> None:
    runner = warm()
    first = outcomes(run(runner, tmp_path, COUNTER))
    assert first == {
        "test_module_state_starts_fresh": "passed",
        "test_fractions_was_preloaded": "failed",
    }
    names = sandbox_containers(docker_client, sandbox.settings.owner)
    for _ in range(3):
        # the module-level list a run appended to is empty again; what the tests imported
        # from the image (fractions) was learned by the server and is loaded before the fork
        later = outcomes(run(runner, tmp_path, COUNTER))
        assert set(later.values()) == {"passed"}, later
    assert runner.containers_started == 1 and runner.replaced == 0
    assert sandbox_containers(docker_client, sandbox.settings.owner) == names and len(names) == 1
    assert docker_client.containers.get(names[0]).labels[WARM_LABEL] == "1"


def test_a_hung_step_is_killed_with_its_process_group_and_the_server_goes_on(
    warm: MakeRunner, sandbox: DockerSandbox, tmp_path: Path
) -> None:
    mark = str(random.randrange(7_000_000, 8_000_000))
    runner = warm(limits=replace(sandbox.settings.limits, timeout_s=4.0))
    hung = run(
        runner,
        tmp_path,
        {
            "test_hang.py": "import subprocess, time\n\ndef test_hang():\n"
            f"    subprocess.Popen(['sleep', '{mark}'])\n    time.sleep(120)\n"
        },
    )
    assert hung.result is None and "timed out after 4 s" in hung.detail, hung.detail
    assert host_processes_with(f"sleep {mark}") == []
    assert outcomes(run(runner, tmp_path, COUNTER))["test_module_state_starts_fresh"] == "passed"
    assert runner.containers_started == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("import os; os._exit(3)", "ended (exit code 3) before the session finished"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9"),
        ("import ctypes; ctypes.string_at(0)", "killed by signal 11"),
    ],
    ids=["os-exit", "sigkill-self", "segfault"],
)
def test_a_crashing_test_process_leaves_the_server_running(
    warm: MakeRunner, tmp_path: Path, body: str, reason: str
) -> None:
    runner = warm()
    crashed = run(runner, tmp_path, {"test_crash.py": f"def test_crash():\n    {body}\n"})
    assert crashed.result is None and reason in crashed.detail, crashed.detail
    assert outcomes(run(runner, tmp_path, COUNTER))["test_module_state_starts_fresh"] == "passed"
    assert runner.containers_started == 1


LEAVES_FILES = """import os

def test_leave_files(tmp_path):
    (tmp_path / "x").write_text("x")
    for path in ("/tmp/marker", "/dev/shm/marker"):
        with open(path, "w") as handle:
            handle.write("left behind")
    os.makedirs("/tmp/deep/locked")
    os.chmod("/tmp/deep", 0)
"""
SEES_NOTHING = """import os, pytest

def test_nothing_is_left():
    assert os.listdir("/tmp") == [] and os.listdir("/dev/shm") == []

def test_other_runs_are_out_of_reach():
    with pytest.raises(OSError):  # the read-only root
        open("/work/other-run", "w")
    assert os.listdir("/work") == ["repo"]
"""
SYSV_SEGMENT = """import ctypes

def test_keep_a_segment():
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.shmget(0, 4096, 0o1000 | 0o600) >= 0  # IPC_PRIVATE, IPC_CREAT
"""
NO_SEGMENT = """def test_no_segment():
    with open("/proc/sysvipc/shm") as table:
        assert len(table.read().splitlines()) == 1
"""
SERVER_LIMIT = """import os, resource

def test_lower_the_servers_limit():
    resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (64, 64))
    assert resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE) == (64, 64)
"""
OWN_LIMIT = """import resource

def test_limits_as_the_container_sets_them():
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (1024, 4096)
"""


def test_what_a_run_leaves_is_gone_and_what_cannot_be_cleaned_taints_the_server(
    warm: MakeRunner, tmp_path: Path
) -> None:
    runner = warm()
    assert outcomes(run(runner, tmp_path, {"test_leave.py": LEAVES_FILES})) == {
        "test_leave_files": "passed"
    }
    assert set(outcomes(run(runner, tmp_path, {"test_see.py": SEES_NOTHING})).values()) == {
        "passed"
    }
    assert (runner.containers_started, runner.replaced) == (1, 0)
    # a SysV segment outlives its process: the server is replaced before the next run
    assert outcomes(run(runner, tmp_path, {"test_shm.py": SYSV_SEGMENT})) == {
        "test_keep_a_segment": "passed"
    }
    assert outcomes(run(runner, tmp_path, {"test_no.py": NO_SEGMENT})) == {
        "test_no_segment": "passed"
    }
    assert (runner.containers_started, runner.replaced) == (2, 1)
    # a test that changes the server itself (its limits, inherited by later children)
    run(runner, tmp_path, {"test_limit.py": SERVER_LIMIT})
    assert outcomes(run(runner, tmp_path, {"test_own.py": OWN_LIMIT})) == {
        "test_limits_as_the_container_sets_them": "passed"
    }
    assert (runner.containers_started, runner.replaced) == (3, 2)


def test_a_test_that_kills_the_server_is_retried_once_in_a_fresh_container(
    warm: MakeRunner, tmp_path: Path
) -> None:
    runner = warm()
    killer = {
        "test_kill.py": "import os, signal, time\n\ndef test_kill_the_server():\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n    time.sleep(30)\n"
    }
    plan_run = runner.run_plan(write_tree(tmp_path / "killer", killer), Plan((Step("run"),)))
    assert "the test server ended" in plan_run.detail, plan_run.detail
    assert "the run was retried in a fresh container" in plan_run.detail
    killed = plan_run.step("run")  # killed again in the fresh one: no result, and why
    assert killed.result is None and "retried in a fresh container" in killed.detail
    assert runner.containers_started == 2
    assert outcomes(run(runner, tmp_path, COUNTER))["test_module_state_starts_fresh"] == "passed"
    assert runner.containers_started == 3


HARDENING = """import os, socket, stat, pytest

def status(field):
    with open("/proc/self/status") as handle:
        return next(l.split(":", 1)[1].strip() for l in handle if l.startswith(field + ":"))

def test_unprivileged():
    assert (os.getuid(), os.getgid()) == (10001, 10001)
    assert int(status("CapEff"), 16) == 0 and int(status("CapBnd"), 16) == 0
    assert status("NoNewPrivs") == "1" and status("Seccomp") == "2"

def test_no_network():
    assert sorted(os.listdir("/sys/class/net")) == ["lo"]
    with pytest.raises(OSError):
        socket.create_connection(("1.1.1.1", 53), timeout=3)

@pytest.mark.parametrize("target", ["/usr/pwned", "/etc/pwned", "/opt/venv/pwned",
                                    "/provenfix/pwned", "/work/pwned", "/pwned"])
def test_read_only_outside_the_tree(target):
    with pytest.raises(OSError):
        open(target, "w")

def test_no_docker_socket():
    assert not any(os.path.exists(p) for p in ("/var/run/docker.sock", "/run/docker.sock"))

def test_the_server_is_out_of_reach():
    server = os.getppid()
    for path in (f"/proc/{server}/fd", f"/proc/{server}/environ", f"/proc/{server}/mem"):
        with pytest.raises(PermissionError):
            os.listdir(path) if path.endswith("fd") else open(path, "rb").read(1)
    assert os.fstat(0).st_rdev == os.stat("/dev/null").st_rdev  # not the server's stdin

def cgroup(v2, v1):
    path = "/sys/fs/cgroup/" + (v2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else v1)
    with open(path) as handle:
        return handle.read().strip()

def test_cgroup_limits():
    assert cgroup("pids.max", "pids/pids.max") == "128"
    assert cgroup("memory.max", "memory/memory.limit_in_bytes") == str(512 << 20)

def test_environment():
    keys = {k for k in os.environ if not k.startswith("PYTEST_")}
    assert keys == {"HOME", "HOSTNAME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}
"""


def test_every_test_process_runs_with_the_sandbox_hardening(
    warm: MakeRunner, tmp_path: Path
) -> None:
    result = run(warm(), tmp_path, {"test_hardening.py": HARDENING})
    found = outcomes(result)
    assert len(found) == 12 and set(found.values()) == {"passed"}, found


FORGER = """import json, os

FAKE = [{"t": "ran", "id": 0, "finished": True, "taint": ""}, {"t": "done"},
        {"s": "run", "t": "test", "id": "test_forge.py::test_forge", "checks": 3,
         "phases": {"setup": {"outcome": "passed"}, "call": {"outcome": "passed"}}}]

def test_forge():
    data = "".join(json.dumps(r) + "\\n" for r in FAKE).encode()
    for path in ("/proc/1/fd/1", "/proc/1/fd/2", f"/proc/{os.getppid()}/fd/1"):
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except OSError:
            pass
    for fd in (1, 2):  # the test process's own output, the tests' log
        os.write(fd, data)
    assert False, "the genuine outcome"
"""


def test_records_forged_on_every_stream_a_test_can_reach_change_nothing(
    warm: MakeRunner, tmp_path: Path
) -> None:
    runner = warm()
    for _ in range(2):  # the second run would read what the first left in the stream
        result = run(runner, tmp_path, {"test_forge.py": FORGER})
        assert outcomes(result) == {"test_forge": "failed"}
    assert runner.containers_started == 1


# A whole passing stream written on the container's own output (which its init holds, so any
# test can open it as /proc/1/fd/1), then the server killed so that no real record follows:
# a one-shot container reading that output would take it for the result.
STREAM_FORGING_CONFTEST = """import json, os, signal

ok = {"outcome": "passed"}
nid = "test_x.py::test_x"
records = [
    {"s": "run", "t": "collected", "ids": [nid]},
    {"s": "run", "t": "test", "id": nid, "rep": 0, "checks": 1,
     "phases": {"setup": ok, "call": ok, "teardown": ok}},
    {"s": "run", "t": "finish", "exitstatus": 0, "testsfailed": 0, "testscollected": 1},
    {"s": "run", "t": "exit", "timed_out": False, "code": 0},
    {"t": "done"},
]
with open("/proc/1/fd/1", "w") as out:
    out.write("".join(json.dumps(r) + "\\n" for r in records))
os.kill(os.getppid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("reuse", [True, False], ids=["warm", "fresh-per-run"])
def test_a_stream_forged_on_the_containers_output_is_never_a_result(
    warm: MakeRunner, tmp_path: Path, reuse: bool
) -> None:
    files = {"conftest.py": STREAM_FORGING_CONFTEST, "test_x.py": "def test_x():\n    assert 0\n"}
    result = run(warm(reuse=reuse), tmp_path, files)
    assert result.result is None and "the test server ended" in result.detail, result.detail


def test_a_memory_hog_is_killed_and_the_server_survives(
    warm: MakeRunner, sandbox: DockerSandbox, tmp_path: Path
) -> None:
    runner = warm(limits=replace(sandbox.settings.limits, memory="256m", timeout_s=60.0))
    hog = "def test_hog():\n    chunks = [b'x' * (32 << 20) for _ in range(32)]\n"
    result = run(runner, tmp_path, {"test_hog.py": hog})
    assert result.result is None and "killed by signal 9" in result.detail, result.detail
    assert outcomes(run(runner, tmp_path, COUNTER))["test_module_state_starts_fresh"] == "passed"
    assert runner.containers_started == 1


KILLED_WORKER = """
import os, signal, sys
from pathlib import Path
from provenfix.jobs.sandbox.engine import connect_docker
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import SandboxLimits, SandboxSettings
from provenfix.jobs.validation.testrun import run_tests
from provenfix.jobs.validation.warm_runner import WarmTestRunner

owner, image, scratch, tree = sys.argv[1:]
limits = SandboxLimits(memory="512m", pids=128, timeout_s=60)
sandbox = DockerSandbox(connect_docker(os.environ), SandboxSettings(owner=owner, limits=limits))
runner = WarmTestRunner(sandbox, image, Path(scratch))  # still referenced when killed
run = run_tests(runner, Path(tree), None)
print(run.result is not None, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the worker dies with its warm container up
"""


def test_a_killed_workers_warm_container_stops_and_is_removed_as_a_leftover(
    docker_client: docker.DockerClient,
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    tmp_path: Path,
) -> None:
    tree = write_tree(tmp_path / "tree", COUNTER)
    worker = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, sandbox.settings.owner, plain_env.tag,
         str(tmp_path / "scratch"), str(tree)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert worker.returncode == -signal.SIGKILL and worker.stdout == "True\n", worker.stderr
    (name,) = sandbox.leftover_containers()  # as the next worker finds it
    deadline = time.monotonic() + 30
    # the server saw its input end: it ended the container's main process
    while docker_client.containers.get(name).status == "running":
        assert time.monotonic() < deadline, "the warm container outlived its worker"
        time.sleep(0.5)
    assert sandbox.remove_leftovers() == 1
    assert sandbox_containers(docker_client, sandbox.settings.owner) == []
    assert sandbox.longest_run_s >= sandbox.settings.warm_lifetime_s


def test_the_environment_gives_a_warm_runner_unless_warm_is_off(
    sandbox: DockerSandbox, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo", COUNTER)
    for warm_on in (True, False):
        settings = replace(sandbox.settings, warm=warm_on)
        environment = DockerTestEnvironment(DockerSandbox(sandbox.client, settings))
        runner = environment.prepare(repo, repo, tmp_path / f"runs-{warm_on}")
        assert isinstance(runner, WarmTestRunner) and runner.reuse is warm_on
        with runner:
            for _ in range(2):
                found = outcomes(run(runner, tmp_path, COUNTER))
                assert found["test_module_state_starts_fresh"] == "passed"
        assert runner.containers_started == (1 if warm_on else 2)
    settings = settings_from_env(
        {"PROVENFIX_SANDBOX_WARM": "off", "PROVENFIX_SANDBOX_PARALLEL": "1"}
    )
    assert (settings.warm, settings.parallel) == (False, 1)
