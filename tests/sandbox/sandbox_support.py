"""Repositories the sandbox tests run, written into temporary directories.

The hostile sources are plain strings on purpose: pytest on the host never
collects or imports them; they only ever run inside a sandbox container.
Each attack prints `ATTACK <what> blocked: <why>` or `ATTACK <what> SUCCEEDED`
and then asserts success, as a real attacker's test would.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import docker

from provenfix.jobs.sandbox.settings import CONTAINER_LABEL, OWNER_LABEL

TRIVIAL_REPO = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "test_calc.py": textwrap.dedent(
        """\
        from calc import add

        def test_add():
            assert add(2, 3) == 5

        def test_tmp_path_is_usable(tmp_path):
            script = tmp_path / "hello.sh"
            script.write_text("#!/bin/sh\\necho hi\\n")
            script.chmod(0o755)
            import subprocess
            assert subprocess.run([str(script)], capture_output=True, text=True).stdout == "hi\\n"
        """
    ),
}

FAILING_REPO = {
    "test_fail.py": "def test_fails():\n    assert 1 == 2, 'deliberate'\n",
}

PACKAGED_REPO = {
    "pyproject.toml": textwrap.dedent(
        """\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "provenfix-demo"
        version = "0.1.0"

        [project.optional-dependencies]
        test = ["six"]
        """
    ),
    "src/demo/__init__.py": "VALUE = 41\n",
    "tests/test_demo.py": textwrap.dedent(
        """\
        import demo
        import six

        def test_value_comes_from_the_mounted_checkout():
            assert demo.__file__.startswith("/work/repo/src/demo/"), demo.__file__
            assert demo.VALUE == 42
        """
    ),
}

BROKEN_DEPENDENCY_REPO = {
    "requirements.txt": "provenfix-no-such-package-4f1e9c==0.0.1\n",
    "test_x.py": "def test_x():\n    pass\n",
}

_ATTACK_HELPERS = textwrap.dedent(
    """\
    import os

    def report(what, error=None):
        if error is None:
            print(f"ATTACK {what} SUCCEEDED", flush=True)
            return True
        print(f"ATTACK {what} blocked: {error!r}", flush=True)
        return False
    """
)

HOSTILE_REPO = {
    "attack.py": _ATTACK_HELPERS,
    "test_network.py": textwrap.dedent(
        """\
        import os, socket
        from attack import report

        def connect(host, port):
            try:
                socket.create_connection((host, port), timeout=3).close()
            except OSError as exc:
                return report(f"network {host}:{port}", exc)
            return report(f"network {host}:{port}")

        def has_route():
            with open("/proc/net/route") as table:
                return any(line.split()[0] != "lo" for line in table.read().splitlines()[1:])

        def test_interfaces():
            names = sorted(os.listdir("/sys/class/net"))
            print(f"ATTACK interfaces {names}")
            assert names != ["lo"]

        def test_public_dns_server():
            # Never send a packet to the internet from a test: a route alone is the proof.
            if has_route():
                assert report("network 1.1.1.1:53 (a route exists)")
                return
            assert connect("1.1.1.1", 53)

        def test_host_redis():
            assert connect("127.0.0.1", 6379)

        def test_host_listener():
            assert connect("127.0.0.1", int(os.environ["HOST_PORT"]))

        def test_dns_lookup():
            try:
                socket.getaddrinfo("pypi.org", 443)
            except OSError as exc:
                assert report("dns pypi.org", exc)
            assert report("dns pypi.org")
        """
    ),
    "test_secrets.py": textwrap.dedent(
        """\
        import hashlib, os
        from attack import report

        def test_host_environment():
            seen = dict(os.environ)
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/environ", "rb") as handle:
                        seen[f"proc-{pid}"] = handle.read().decode(errors="replace")
                except OSError:
                    pass
            print(f"ATTACK env keys {sorted(os.environ)}")
            print(f"ATTACK visible pids {sorted(filter(str.isdigit, os.listdir('/proc')))}")
            if any("PROVENFIX_TEST_SECRET" in key + value for key, value in seen.items()):
                assert report("host environment")
            assert report("host environment", "PROVENFIX_TEST_SECRET not visible")

        def test_host_file():
            path = os.environ["HOST_MARKER"]
            for candidate in (path, "/proc/1/root" + path, "/work/repo/../.." + path):
                try:
                    with open(candidate) as handle:
                        content = handle.read()
                except OSError as exc:
                    report(f"read {candidate}", exc)
                else:
                    report(f"read {candidate}")
                    print(content)
            assert False, "no host file was readable"

        def test_shadow():
            try:
                with open("/etc/shadow") as handle:
                    handle.read()
            except OSError as exc:
                assert report("read /etc/shadow", exc)
            assert report("read /etc/shadow")

        def test_host_passwd():
            with open("/etc/passwd", "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            if digest == os.environ["HOST_PASSWD_SHA256"]:
                assert report("host /etc/passwd")
            assert report("host /etc/passwd", "the image's own /etc/passwd")
        """
    ),
    "test_write.py": textwrap.dedent(
        """\
        import os
        import pytest
        from attack import report

        TARGETS = [
            "/usr/lib/pwned", "/etc/pwned", "/home/sandbox/pwned", "/opt/venv/pwned",
            "/work/pwned", "/root/pwned", "/var/tmp/pwned", "/pwned",
        ]

        @pytest.mark.parametrize("target", TARGETS + ["HOST"])
        def test_write_outside(target):
            if target == "HOST":
                target = os.environ["HOST_WRITE_TARGET"]
            try:
                with open(target, "w") as handle:
                    handle.write("pwned")
            except OSError as exc:
                assert report(f"write {target}", exc)
            assert report(f"write {target}")
        """
    ),
    "test_docker_socket.py": textwrap.dedent(
        """\
        import socket
        import pytest
        from attack import report

        @pytest.mark.parametrize(
            "path",
            ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"],
        )
        def test_docker_socket(path):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                client.connect(path)
                client.sendall(b"GET /version HTTP/1.0\\r\\n\\r\\n")
                print(client.recv(200))
            except OSError as exc:
                assert report(f"docker socket {path}", exc)
            assert report(f"docker socket {path}")
        """
    ),
    "test_fork_bomb.py": textwrap.dedent(
        """\
        import os, time
        from attack import report

        def test_fork_bomb():
            # Bounded: at most 2000 children that idle for 10 s, in case a limit is missing.
            deadline = time.monotonic() + 10
            children, error = [], None
            for _ in range(2000):
                try:
                    pid = os.fork()
                except OSError as exc:
                    error = exc
                    break
                if pid == 0:
                    time.sleep(max(0.0, deadline - time.monotonic()))
                    os._exit(0)
                children.append(pid)
            print(f"ATTACK fork bomb spawned {len(children)}")
            for pid in children:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            assert report("fork bomb", error)
        """
    ),
    "test_memory.py": textwrap.dedent(
        """\
        from attack import report

        def test_allocate():
            chunks = []
            for index in range(64):  # up to 4 GiB, 64 MiB at a time, every page touched
                chunks.append(b"x" * (64 << 20))
                print(f"ATTACK memory holds {(index + 1) * 64} MiB", flush=True)
            assert report("allocate 4 GiB")
        """
    ),
    "test_sleep.py": textwrap.dedent(
        """\
        import os, subprocess

        def test_sleep_forever():
            print("ATTACK sleep started", flush=True)
            subprocess.run(["sleep", os.environ["SLEEP_MARK"]])
        """
    ),
    "test_daemon.py": textwrap.dedent(
        """\
        import os, subprocess

        def test_leave_a_daemon():
            mark = os.environ["SLEEP_MARK"]
            if os.fork() == 0:  # classic double fork + setsid
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", mark])
                os._exit(0)
            os.wait()
            subprocess.Popen(["nohup", "sleep", mark], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print("ATTACK daemons started", flush=True)
        """
    ),
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Create `root` with `files` (relative path -> text); return it."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def sandbox_containers(client: docker.DockerClient, owner: str) -> list[str]:
    """This test session's sandbox containers (others may use the engine meanwhile)."""
    labels = [f"{CONTAINER_LABEL}=1", f"{OWNER_LABEL}={owner}"]
    found = client.containers.list(all=True, filters={"label": labels})
    return [str(container.name) for container in found]


def host_processes_with(needle: str) -> list[str]:
    """Command lines of host processes containing `needle` (containers' too: same kernel)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if needle in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found
