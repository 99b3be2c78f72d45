"""Build the sandbox base image locally with debootstrap (no registry needed).

The image is a minimal Debian with python3, venv, pip, git and CA certificates,
a non-root user `sandbox` (uid 10001) and an empty /opt/venv that user owns.
In production any pulled image (e.g. python:3.12-slim) can replace it: see
`SandboxSettings.base_image`.

    provenfix build-sandbox-base [--force] [--tag T] [--mirror URL]   (jobs.cli)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from provenfix.jobs.sandbox.errors import BaseImageBuildError
from provenfix.jobs.sandbox.settings import (
    DEFAULT_BASE_IMAGE,
    IMAGE_PATH,
    SANDBOX_GID,
    SANDBOX_UID,
    VENV_DIR,
    VENV_READY_LABEL,
    WORK_REPO,
)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "python3-pip", "git", "ca-certificates")

# Applied by dpkg to every later install too, so the image stays small.
_DPKG_NODOC = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""

_CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}

Log = Callable[[str], None]


def _print_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_base_image(
    client: docker.DockerClient,
    tag: str = DEFAULT_BASE_IMAGE,
    *,
    mirror: str | None = None,
    security_mirror: str | None = None,
    force: bool = False,
    log: Log = _print_log,
    scratch_dir: Path | None = None,
) -> str:
    """Build (or reuse) the base image `tag` and return its image id.

    `mirror` defaults to deb.debian.org, the security mirror likewise (the command
    reads PROVENFIX_DEBIAN_MIRROR and PROVENFIX_DEBIAN_SECURITY_MIRROR). Needs root and
    debootstrap on the machine that runs the engine.
    """
    try:
        previous: Any = client.images.get(tag)
    except docker.errors.ImageNotFound:
        previous = None
    if previous is not None and not force:
        log(f"base image {tag} exists ({previous.short_id}); pass force=True (--force) to rebuild")
        return str(previous.id)
    mirror = check_mirror_url(mirror or DEFAULT_MIRROR)
    security_mirror = check_mirror_url(security_mirror or DEFAULT_SECURITY_MIRROR)
    _check_prerequisites()
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="provenfix-rootfs-", dir=scratch_dir or "/var/tmp"))
    try:
        rootfs = scratch / "rootfs"
        log(f"debootstrap {SUITE} (minbase) from {mirror} into {rootfs}")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--components=main",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ],
            log,
        )
        _configure(rootfs, mirror, security_mirror, log)
        _clean(rootfs)
        tarball = scratch / "rootfs.tar"
        log("packing the root filesystem")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], log)
        log(f"importing as {tag}")
        image_id = _import(client, tarball, tag)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if previous is not None and previous.id != image_id:
        # Untagged now; still in use while environment images are built on it.
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(previous.id)
    log(f"built {tag} ({image_id[:19]}) in {time.monotonic() - started:.0f} s")
    return image_id


def check_mirror_url(url: str) -> str:
    """`url` when it is an http(s) or file URL and nothing else: debootstrap takes it as
    an argument and apt's sources.list as a line, so no option and no second line."""
    parsed = urllib.parse.urlsplit(url)
    plain = not re.search(r"[\s\x00-\x1f\x7f]", url)
    if not plain or parsed.scheme not in ("http", "https", "file"):
        raise BaseImageBuildError(
            f"{url[:80]!r} is not a Debian mirror URL; set the mirror (--mirror, "
            "--security-mirror, PROVENFIX_DEBIAN_MIRROR, PROVENFIX_DEBIAN_SECURITY_MIRROR) "
            "to an http://, https:// or file:// URL without spaces"
        )
    if parsed.scheme != "file" and not parsed.hostname:
        raise BaseImageBuildError(
            f"the Debian mirror URL {url[:80]!r} names no host; e.g. http://deb.debian.org/debian"
        )
    return url


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise BaseImageBuildError(
            "building the base image needs root (debootstrap and chroot); run "
            "scripts/build-sandbox-base as root, or use a pulled base image instead "
            "(PROVENFIX_SANDBOX_IMAGE=python:3.12-slim)"
        )
    if shutil.which("debootstrap") is None:
        raise BaseImageBuildError("debootstrap is not installed; `apt-get install debootstrap`")


def _run(argv: Sequence[str], log: Log, env: dict[str, str] | None = None) -> None:
    tail: list[str] = []
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=env,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            log(f"  {line}")
            tail = [*tail[-29:], line]
        code = proc.wait()
    if code != 0:
        raise BaseImageBuildError(
            f"{argv[0]} {' '.join(argv[1:3])} failed with exit code {code}; check the mirror "
            "(PROVENFIX_DEBIAN_MIRROR) and the network. Last output:\n" + "\n".join(tail)
        )


def _chroot(rootfs: Path, argv: Sequence[str], log: Log) -> None:
    _run(["chroot", str(rootfs), *argv], log, env=_CHROOT_ENV)


def _configure(rootfs: Path, mirror: str, security_mirror: str, log: Log) -> None:
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {mirror} {SUITE} main\n"
        f"deb {mirror} {SUITE}-updates main\n"
        f"deb {security_mirror} {SUITE}-security main\n"
    )
    (rootfs / "etc/dpkg/dpkg.cfg.d/01-provenfix-nodoc").write_text(_DPKG_NODOC)
    (rootfs / "etc/apt/apt.conf.d/01-provenfix").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    log("applying updates (bookworm-updates, bookworm-security)")
    _chroot(rootfs, ["apt-get", "-q", "update"], log)
    _chroot(
        rootfs,
        ["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confold", "dist-upgrade"],
        log,
    )
    _chroot(rootfs, ["apt-get", "clean"], log)
    _chroot(rootfs, ["groupadd", "--gid", str(SANDBOX_GID), "sandbox"], log)
    _chroot(
        rootfs,
        [
            "useradd",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_GID),
            "--create-home",
            "--home-dir", "/home/sandbox",
            "--shell", "/bin/bash",
            "sandbox",
        ],
        log,
    )  # fmt: skip
    for path, owner, mode in (
        ("work", 0, 0o755),
        (WORK_REPO.lstrip("/"), SANDBOX_UID, 0o755),
        (VENV_DIR.lstrip("/"), SANDBOX_UID, 0o755),
    ):
        directory = rootfs / path
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, owner, owner)
        directory.chmod(mode)


def _empty_dir(directory: Path, keep: Callable[[Path], bool] = lambda _p: False) -> None:
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in directory.iterdir():
        if keep(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _clean(rootfs: Path) -> None:
    """Drop apt caches and lists, docs, man pages, locales and logs."""
    _empty_dir(rootfs / "var/lib/apt/lists", keep=lambda p: p.name in {"partial", "lock"})
    _empty_dir(rootfs / "var/cache/apt", keep=lambda p: p.name == "archives")
    _empty_dir(rootfs / "var/cache/apt/archives", keep=lambda p: p.name in {"partial", "lock"})
    _empty_dir(rootfs / "var/cache/debconf", keep=lambda p: not p.name.endswith("-old"))
    for doc in (rootfs / "usr/share/doc").glob("*"):
        if doc.is_dir() and not doc.is_symlink():
            _empty_dir(doc, keep=lambda p: p.name == "copyright")
    for name in ("man", "info", "lintian", "linda"):
        _empty_dir(rootfs / "usr/share" / name)
    _empty_dir(rootfs / "usr/share/locale", keep=lambda p: p.name == "locale.alias")
    for log_file in (rootfs / "var/log").rglob("*"):
        if log_file.is_file() and not log_file.is_symlink():
            log_file.write_bytes(b"")
    # The engine provides these per container.
    for name in ("etc/resolv.conf", "etc/hostname", "etc/machine-id"):
        (rootfs / name).unlink(missing_ok=True)
    (rootfs / "var/cache/ldconfig/aux-cache").unlink(missing_ok=True)


def _import(client: docker.DockerClient, tarball: Path, tag: str) -> str:
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:
        repository, version = tag, "latest"
    changes = [
        f"USER {SANDBOX_UID}:{SANDBOX_GID}",
        "WORKDIR /work",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
        "LABEL org.opencontainers.image.title=provenfix-sandbox-base",
        f"LABEL {VENV_READY_LABEL}={SANDBOX_UID}",
    ]
    try:
        client.api.import_image(
            src=str(tarball), repository=repository, tag=version, changes=changes
        )
        image: Any = client.images.get(tag)
    except docker.errors.DockerException as exc:
        raise BaseImageBuildError(f"importing {tarball} as {tag} failed: {exc}") from exc
    return str(image.id)
