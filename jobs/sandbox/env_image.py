"""Environment images: the base image plus one repository's installed dependencies.

One image per dependency fingerprint (the dependency files, the base image id
and the install script), tagged `provenfix/env:<fingerprint[:16]>` and reused.
The install step is the ONLY container with a network: it runs as uid 10001
without capabilities, on a copy of the checkout mounted at /work/repo, and its
result is committed. Bind mounts are not part of a commit, so the copy does not
stay in the image; an editable install keeps pointing at /work/repo, where each
test run mounts its own copy of the checkout.
"""

from __future__ import annotations

import configparser
import fnmatch
import hashlib
import os
import re
import shlex
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from provenfix.jobs.sandbox.errors import BaseImageMissing, EnvironmentInstallError, SandboxRunError
from provenfix.jobs.sandbox.runner import (
    ContainerSpec,
    SandboxResult,
    base_environment,
    run_container,
)
from provenfix.jobs.sandbox.settings import (
    CONTAINER_LABEL,
    IMAGE_PATH,
    OWNER_LABEL,
    SANDBOX_GID,
    SANDBOX_UID,
    VENV_DIR,
    VENV_READY_LABEL,
    WORK_REPO,
    SandboxSettings,
)
from provenfix.jobs.sandbox.workdir import prepare_workdir, remove_workdir

DEPENDENCY_PATTERNS = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "requirements*.txt",
    "requirements/*.txt",
    "*.lock",  # poetry.lock, uv.lock, Pipfile.lock, pdm.lock
    "tox.ini",
)
TEST_EXTRAS = ("test", "tests", "testing", "dev")
FINGERPRINT_LABEL = "provenfix.env.fingerprint"
BASE_LABEL = "provenfix.env.base"
_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_MAX_DEPENDENCY_FILE = 16 << 20
_LOG_TAIL_LINES = 40
_FORMAT = b"provenfix-env-v1"
# A commit keeps the container's labels; blank them so that containers made from
# the image do not look like sandbox runs of whoever built it.
_CLEAR_RUN_LABELS = f'LABEL {CONTAINER_LABEL}="" {CONTAINER_LABEL}.run="" {OWNER_LABEL}=""'

Log = Callable[[str], None]


@dataclass(frozen=True)
class EnvImage:
    tag: str
    image_id: str
    fingerprint: str
    base_image_id: str
    built: bool  # False: an existing image was reused
    duration_s: float
    install_log_tail: tuple[str, ...] = ()


def dependency_files(repo_dir: Path) -> list[str]:
    """Relative paths (sorted) of the files that decide the installed dependencies."""
    found: set[str] = set()
    for pattern in DEPENDENCY_PATTERNS:
        folder, _, name_glob = pattern.rpartition("/")
        directory = repo_dir / folder if folder else repo_dir
        if directory.is_symlink() or not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                if not fnmatch.fnmatchcase(entry.name, name_glob):
                    continue
                if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                    found.add(f"{folder}/{entry.name}" if folder else entry.name)
    return sorted(found)


def _field(digest: Any, data: bytes) -> None:
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(_MAX_DEPENDENCY_FILE + 1)
    if len(data) > _MAX_DEPENDENCY_FILE:
        raise EnvironmentInstallError(f"{path.name} is larger than 16 MiB", ())
    return data


def dependency_fingerprint(
    repo_dir: Path, *, base_image_id: str = "", install_command: str = "", scope: str = ""
) -> str:
    """sha256 over the dependency files (paths and bytes), the base image id, the
    install command and the cache scope. Symlinks are hashed by their target text,
    never followed.
    """
    repo_dir = Path(repo_dir)
    digest = hashlib.sha256()
    _field(digest, _FORMAT)
    for relative in dependency_files(repo_dir):
        path = repo_dir / relative
        _field(digest, relative.encode())
        if path.is_symlink():
            _field(digest, b"symlink:" + os.readlink(path).encode())
        else:
            _field(digest, _read_capped(path))
    _field(digest, b"base:" + base_image_id.encode())
    _field(digest, b"install:" + install_command.encode())
    if scope:
        _field(digest, b"scope:" + scope.encode())
    return digest.hexdigest()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _load_pyproject(repo_dir: Path) -> dict[str, Any] | None:
    path = repo_dir / "pyproject.toml"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return tomllib.loads(_read_capped(path).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {"invalid": True}  # packaged as far as we know: pip reports the error


def is_packaged(repo_dir: Path) -> bool:
    """Whether `pip install .` can work: setup.py, or a pyproject that declares a build."""
    if (repo_dir / "setup.py").is_file():
        return True
    pyproject = _load_pyproject(repo_dir)
    return pyproject is not None and bool({"project", "build-system", "invalid"} & pyproject.keys())


def declared_test_extras(repo_dir: Path) -> list[str] | None:
    """The test extras the project declares statically; None if it cannot be known."""
    declared: set[str] = set()
    known = False
    pyproject = _load_pyproject(repo_dir) or {}
    project = pyproject.get("project")
    if isinstance(project, dict):
        extras = project.get("optional-dependencies")
        if isinstance(extras, dict):
            declared |= {_normalize(str(name)) for name in extras}
        known = "optional-dependencies" not in project.get("dynamic", [])
    setup_cfg = repo_dir / "setup.cfg"
    if setup_cfg.is_file() and not setup_cfg.is_symlink():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(_read_capped(setup_cfg).decode("utf-8", errors="replace"))
        except configparser.Error:
            pass
        else:
            if parser.has_section("options.extras_require"):
                declared |= {_normalize(name) for name in parser["options.extras_require"]}
                known = True
    if not known and (repo_dir / "setup.py").is_file():
        return None
    return [extra for extra in TEST_EXTRAS if extra in declared]


def default_install_commands(repo_dir: Path) -> list[str]:
    """Shell lines that install the project (editable) or its requirements files."""
    requirements = [
        path
        for path in dependency_files(repo_dir)
        if path.endswith(".txt") and (path.startswith("requirements"))
    ]
    commands: list[str] = []
    if is_packaged(repo_dir):
        commands.append("pip install -e .")
        extras = declared_test_extras(repo_dir)
        for extra in TEST_EXTRAS if extras is None else extras:
            # Optional: a broken test extra must not cost us the whole environment.
            commands.append(
                f"pip install -q -e '.[{extra}]' || echo 'provenfix: extra [{extra}] skipped'"
            )
        for path in requirements:
            if re.search(r"test|dev", path):
                commands.append(
                    f"pip install -q -r {shlex.quote(path)} || echo 'provenfix: {path} skipped'"
                )
    elif requirements:
        commands.append("pip install " + " ".join(f"-r {shlex.quote(p)}" for p in requirements))
    return commands


def install_script(commands: Sequence[str], settings: SandboxSettings) -> str:
    """The shell script of the install step; pytest and coverage always end up installed."""
    exports = [
        "HOME=/tmp",
        "PIP_NO_CACHE_DIR=1",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "PIP_NO_INPUT=1",
        "PIP_DEFAULT_TIMEOUT=60",
        "PIP_PROGRESS_BAR=off",
    ]
    if settings.ca_certs_dir:
        exports += [f"PIP_CERT={_CA_BUNDLE}", f"REQUESTS_CA_BUNDLE={_CA_BUNDLE}"]
        exports.append(f"SSL_CERT_FILE={_CA_BUNDLE}")
    if settings.pip_index_url:
        exports.append(f"PIP_INDEX_URL={shlex.quote(settings.pip_index_url)}")
    # Exported inside the script, not as container variables: a commit would keep those.
    lines = [
        "set -e",
        "exec 2>&1",
        "export " + " ".join(exports),
        f"python3 -m venv {VENV_DIR}",
        f'export PATH="{VENV_DIR}/bin:$PATH" VIRTUAL_ENV={VENV_DIR}',
        f"cd {WORK_REPO}",
        "set -x",
        *commands,
        "pip install pytest coverage",
    ]
    return "\n".join(lines) + "\n"


def _image_or_none(client: docker.DockerClient, name: str) -> Any:
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def ensure_base_image(client: docker.DockerClient, settings: SandboxSettings) -> Any:
    """The base image, pulled when missing and allowed; BaseImageMissing otherwise."""
    image = _image_or_none(client, settings.base_image)
    if image is not None:
        return image
    if not settings.pull_missing_base:
        raise BaseImageMissing(settings.base_image, "not on the engine; pulling is off")
    try:
        return client.images.pull(settings.base_image)
    except docker.errors.DockerException as exc:
        raise BaseImageMissing(settings.base_image, f"pull failed: {exc}") from exc


def _commit(container: Any, repository: str, tag: str, changes: list[str]) -> str:
    try:
        image = container.commit(repository=repository, tag=tag, changes=changes)
    except docker.errors.DockerException as exc:
        raise SandboxRunError(f"committing {repository}:{tag} failed: {exc}") from exc
    return str(image.id)


def _prepared_base(client: docker.DockerClient, settings: SandboxSettings, base: Any) -> str:
    """A base whose /opt/venv the sandbox user owns (pulled images: python:3.12-slim)."""
    labels = base.labels or {}
    if labels.get(VENV_READY_LABEL) == str(SANDBOX_UID):
        return str(base.id)
    tag = f"base-{str(base.id).removeprefix('sha256:')[:16]}"
    existing = _image_or_none(client, f"{settings.env_repository}:{tag}")
    if existing is not None:
        return str(existing.id)
    commits: list[str] = []
    spec = ContainerSpec(
        image=str(base.id),
        command=(
            "sh",
            "-c",
            f"mkdir -p {VENV_DIR} {WORK_REPO} && chown {SANDBOX_UID}:{SANDBOX_GID} {VENV_DIR}",
        ),
        limits=settings.install_limits,
        environment=base_environment(),
        workdir=None,
        read_only=False,
        user="0:0",  # our fixed command only; no repository code runs here
        cap_add=("CHOWN",),
        working_dir="/",
        labels={OWNER_LABEL: settings.owner},
    )
    changes = [f"LABEL {VENV_READY_LABEL}={SANDBOX_UID}", _CLEAR_RUN_LABELS]

    def commit(container: Any, result: SandboxResult) -> None:
        if result.ok:
            commits.append(_commit(container, settings.env_repository, tag, changes))

    result = run_container(client, spec, on_exit=commit)
    if not commits:
        raise BaseImageMissing(
            settings.base_image, f"preparing {VENV_DIR} in it failed: {result.reason}"
        )
    return commits[0]


def ensure_env_image(
    client: docker.DockerClient,
    settings: SandboxSettings,
    repo_dir: Path,
    install_command: str | None = None,
    *,
    scope: str = "",
    log: Log | None = None,
) -> EnvImage:
    """The environment image for `repo_dir`'s dependencies, built once and then reused.

    `install_command` (a shell line from the repository config) replaces the
    default plan: `pip install -e .` plus test extras, or the requirements files
    when there is no packaging. Raises EnvironmentInstallError when it fails.

    The install runs the repository's build code (setup.py, in-tree backends),
    which the fingerprint does not cover entirely: build from the base revision,
    and give builds from untrusted code (a pull request's head) a `scope` of
    their own (e.g. "pr-123") so that their image is never reused for others.
    """
    started = time.monotonic()
    repo_dir = Path(repo_dir)
    if not repo_dir.is_dir():
        raise EnvironmentInstallError(f"{repo_dir} is not a directory", ())
    base = ensure_base_image(client, settings)
    base_id = str(base.id)
    commands = [install_command] if install_command else default_install_commands(repo_dir)
    script = install_script(commands, settings)
    fingerprint = dependency_fingerprint(
        repo_dir, base_image_id=base_id, install_command=script, scope=scope
    )
    tag = f"{settings.env_repository}:{fingerprint[:16]}"
    existing = _image_or_none(client, tag)
    if existing is not None and (existing.labels or {}).get(FINGERPRINT_LABEL) == fingerprint:
        return EnvImage(
            tag, str(existing.id), fingerprint, base_id, False, time.monotonic() - started
        )
    if log is not None:
        log(f"building {tag} from {settings.base_image}")
    source = _prepared_base(client, settings, base)
    scratch = Path(tempfile.mkdtemp(prefix="provenfix-install-", dir=settings.scratch_dir))
    commits: list[str] = []
    changes = [
        f"USER {SANDBOX_UID}:{SANDBOX_GID}",
        f"WORKDIR {WORK_REPO}",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
        f'LABEL {FINGERPRINT_LABEL}="{fingerprint}" {BASE_LABEL}="{base_id}"',
        _CLEAR_RUN_LABELS,
    ]

    def commit(container: Any, result: SandboxResult) -> None:
        if result.ok:
            commits.append(_commit(container, settings.env_repository, fingerprint[:16], changes))

    try:
        copy = prepare_workdir(repo_dir, scratch / "repo")
        spec = ContainerSpec(
            image=source,
            command=("sh", "-c", script),
            limits=settings.install_limits,
            environment=base_environment(),
            workdir=copy,
            network_mode=settings.install_network_mode,
            read_only=False,  # the venv is written to the container layer, then committed
            readonly_binds=(
                {settings.ca_certs_dir: "/etc/ssl/certs"} if settings.ca_certs_dir else {}
            ),
            labels={OWNER_LABEL: settings.owner},
        )
        result = run_container(client, spec, on_exit=commit)
    finally:
        remove_workdir(scratch)
    lines = (result.stdout + result.stderr).splitlines()
    tail = tuple(lines[-_LOG_TAIL_LINES:])
    if not commits:
        raise EnvironmentInstallError(result.reason, tail)
    duration = time.monotonic() - started
    if log is not None:
        log(f"built {tag} in {duration:.0f} s")
    return EnvImage(tag, commits[0], fingerprint, base_id, True, duration, tail)
