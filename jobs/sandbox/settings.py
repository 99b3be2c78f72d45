"""Limits and settings of the sandbox, and how they are read from the environment."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from provenfix.jobs.errors import ConfigError
from provenfix.jobs.sandbox.errors import SandboxError
from provenfix.jobs.settings_reader import SettingsReader

SANDBOX_UID = 10001
SANDBOX_GID = 10001
WORK_REPO = "/work/repo"
VENV_DIR = "/opt/venv"
IMAGE_PATH = f"{VENV_DIR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_BASE_IMAGE = "provenfix/sandbox-base:bookworm"
DEFAULT_ENV_REPOSITORY = "provenfix/env"
DOCKER_ENV_KEYS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
CONTAINER_LABEL = "provenfix.sandbox"
# Who started a container: leftovers are only ever cleaned up by their owner.
OWNER_LABEL = "provenfix.sandbox.owner"
# On a base image: /opt/venv exists and the sandbox user owns it (ours is built so).
VENV_READY_LABEL = "provenfix.sandbox.venv-owner"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class SandboxConfigError(SandboxError, ConfigError):
    """A sandbox limit or setting is invalid; the message names it and the expected form."""


def parse_size(text: str, *, what: str = "size") -> int:
    """Parse docker-style sizes ("512m", "1g", "1.5GiB", "65536") into bytes (binary units)."""
    match = _SIZE.match(text)
    if match is None:
        raise SandboxConfigError(
            f"{what} {text!r} is not a size; write e.g. 512m, 1g or a number of bytes"
        )
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1 or not math.isfinite(value):
        raise SandboxConfigError(f"{what} {text!r} must be at least one byte")
    return int(value)


def format_size(num_bytes: int) -> str:
    """512 MiB, 1 GiB, 1.5 GiB, 100 KiB: the unit a person reads."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if num_bytes >= scale:
            value = num_bytes / scale
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{num_bytes} B"


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandbox run; every run gets all of them."""

    memory: str = "1g"  # RAM, swap disabled; tmpfs pages count against it too
    pids: int = 256
    cpus: float = 1.0
    timeout_s: float = 600.0  # wall clock, from start to kill
    tmpfs_size: str = "256m"  # /tmp, the only writable path besides the workdir
    output_cap_bytes: int = 1_000_000  # per stream; the tail is kept
    max_file_size: str = "1g"  # RLIMIT_FSIZE: one file written anywhere, workdir included

    def __post_init__(self) -> None:
        self.memory_bytes  # noqa: B018 - validates
        self.tmpfs_bytes  # noqa: B018
        self.max_file_bytes  # noqa: B018
        if self.memory_bytes < 6 << 20:
            raise SandboxConfigError(f"memory limit {self.memory!r} is below the engine's 6m")
        if self.pids < 8:
            raise SandboxConfigError(f"pids limit {self.pids} is too low to start a Python")
        if not (0.01 <= self.cpus <= 1024):
            raise SandboxConfigError(f"cpus {self.cpus} must be between 0.01 and 1024")
        if not (0 < self.timeout_s <= 24 * 3600):
            raise SandboxConfigError(f"timeout {self.timeout_s} s must be in (0, 86400]")
        if self.output_cap_bytes < 1024:
            raise SandboxConfigError(f"output cap {self.output_cap_bytes} must be >= 1024")

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory, what="memory limit")

    @property
    def tmpfs_bytes(self) -> int:
        return parse_size(self.tmpfs_size, what="tmpfs size")

    @property
    def max_file_bytes(self) -> int:
        return parse_size(self.max_file_size, what="max file size")

    @property
    def nano_cpus(self) -> int:
        return int(self.cpus * 1_000_000_000)


def _default_install_limits() -> SandboxLimits:
    return SandboxLimits(
        memory="2g",
        pids=1024,
        cpus=2.0,
        timeout_s=900.0,
        tmpfs_size="2g",
        output_cap_bytes=2_000_000,
        max_file_size="2g",
    )


@dataclass(frozen=True)
class SandboxSettings:
    """Where images come from and what every run is limited to.

    `base_image` is any image with python3 (>= 3.8, with venv) and a shell; locally
    it is built by scripts/build-sandbox-base, in production a pulled image such as
    python:3.12-slim (add git to it if the repositories' tests need git).
    """

    base_image: str = DEFAULT_BASE_IMAGE
    env_repository: str = DEFAULT_ENV_REPOSITORY
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    install_limits: SandboxLimits = field(default_factory=_default_install_limits)
    docker_base_url: str | None = None  # None: DOCKER_HOST (and its TLS variables), else local
    # The install step is the only one with a network. Not "host": that would hand
    # the repository's setup.py the host's loopback services (Redis, Postgres).
    # Production: a network whose egress reaches only the index or a proxy.
    install_network_mode: str = "bridge"
    ca_certs_dir: str | None = "/etc/ssl/certs"  # mounted read-only during install only
    pip_index_url: str | None = None
    scratch_dir: Path | None = None  # where install copies of checkouts go (tmp if None)
    pull_missing_base: bool = True
    owner: str = "provenfix"  # label value; one per worker host (or test session)
    # One warm container (fork server) per analysis and environment image, for all its runs;
    # off: a throw-away container per run.
    warm: bool = True
    parallel: int = 0  # runs at once per analysis (a warm container each); 0: as the engine allows
    warm_lifetime_s: float = 3600.0  # a warm container is replaced (or removed) after this
    # DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH as the worker's environment had them
    docker_env: tuple[tuple[str, str], ...] = ()


def settings_from_env(env: Mapping[str, str]) -> SandboxSettings:
    """The settings in `env` (jobs.config reads them with the rest of the pipeline's)."""
    reader = SettingsReader(env)
    settings = sandbox_settings(reader)
    reader.raise_problems(SandboxConfigError)
    return settings


def sandbox_settings(reader: SettingsReader) -> SandboxSettings:
    """Read the settings from PROVENFIX_SANDBOX_* variables (and DOCKER_HOST), recording
    every bad value on `reader`.

    PROVENFIX_SANDBOX_IMAGE, _ENV_REPOSITORY, _MEMORY, _PIDS, _CPUS, _TIMEOUT_S,
    _TMPFS, _OUTPUT_CAP, _INSTALL_NETWORK, _INSTALL_TIMEOUT_S, _CA_CERTS ("" to
    mount none), _SCRATCH, _OWNER, _DOCKER_HOST (else DOCKER_HOST and its TLS
    variables apply when connecting), _WARM, _PARALLEL ("auto" or a number),
    _WARM_LIFETIME_S, and PROVENFIX_PIP_INDEX_URL.
    """
    defaults = SandboxSettings()
    base = defaults.limits
    limits = SandboxLimits(
        memory=_size(reader, "PROVENFIX_SANDBOX_MEMORY", base.memory, minimum=6 << 20),
        pids=reader.integer("PROVENFIX_SANDBOX_PIDS", base.pids, low=8, hint="processes"),
        cpus=reader.decimal("PROVENFIX_SANDBOX_CPUS", base.cpus, low=0.01, high=1024),
        timeout_s=reader.decimal(
            "PROVENFIX_SANDBOX_TIMEOUT_S", base.timeout_s, low=1, high=24 * 3600
        ),
        tmpfs_size=_size(reader, "PROVENFIX_SANDBOX_TMPFS", base.tmpfs_size, minimum=1 << 20),
        output_cap_bytes=reader.integer(
            "PROVENFIX_SANDBOX_OUTPUT_CAP", base.output_cap_bytes, low=1024
        ),
        max_file_size=base.max_file_size,
    )
    install = defaults.install_limits
    install_limits = SandboxLimits(
        memory=install.memory,
        pids=install.pids,
        cpus=install.cpus,
        timeout_s=reader.decimal(
            "PROVENFIX_SANDBOX_INSTALL_TIMEOUT_S", install.timeout_s, low=1, high=24 * 3600
        ),
        tmpfs_size=install.tmpfs_size,
        output_cap_bytes=install.output_cap_bytes,
        max_file_size=install.max_file_size,
    )
    ca_certs = reader.raw("PROVENFIX_SANDBOX_CA_CERTS")
    if not reader.is_set("PROVENFIX_SANDBOX_CA_CERTS"):  # set but empty: mount none
        ca_certs = defaults.ca_certs_dir
    scratch = reader.path("PROVENFIX_SANDBOX_SCRATCH")
    return SandboxSettings(
        base_image=reader.text("PROVENFIX_SANDBOX_IMAGE", defaults.base_image),
        env_repository=reader.text("PROVENFIX_SANDBOX_ENV_REPOSITORY", defaults.env_repository),
        limits=limits,
        install_limits=install_limits,
        docker_base_url=reader.optional("PROVENFIX_SANDBOX_DOCKER_HOST"),
        docker_env=tuple(
            (key, value) for key in DOCKER_ENV_KEYS if (value := reader.raw(key)) is not None
        ),
        install_network_mode=reader.text(
            "PROVENFIX_SANDBOX_INSTALL_NETWORK", defaults.install_network_mode
        ),
        ca_certs_dir=ca_certs.strip() if ca_certs else None,
        pip_index_url=reader.optional("PROVENFIX_PIP_INDEX_URL"),
        scratch_dir=scratch,
        owner=reader.text("PROVENFIX_SANDBOX_OWNER", defaults.owner),
        warm=reader.boolean("PROVENFIX_SANDBOX_WARM", defaults.warm),
        parallel=_parallel(reader, "PROVENFIX_SANDBOX_PARALLEL"),
        warm_lifetime_s=reader.decimal(
            "PROVENFIX_SANDBOX_WARM_LIFETIME_S",
            defaults.warm_lifetime_s,
            low=60,
            high=24 * 3600,
            hint="seconds a warm container may live; at least the longest analysis",
        ),
    )


MAX_PARALLEL = 64


def _parallel(reader: SettingsReader, name: str) -> int:
    """0 for "auto" (or unset): as many runs at once as the engine's cores and memory allow."""
    setting = reader.get(name)
    if setting is None or setting.text.lower() == "auto":
        return 0
    hint = "auto, or how many runs at once; 1 proves candidates one by one"
    return reader.integer(name, 0, low=1, high=MAX_PARALLEL, hint=hint)


def _size(reader: SettingsReader, name: str, default: str, *, minimum: int) -> str:
    setting = reader.get(name)
    if setting is None:
        return default
    try:
        value = parse_size(setting.text)
    except SandboxConfigError:
        reader.problem(f"{setting.shown()} is not a size; write e.g. 512m, 1g or a number of bytes")
        return default
    if value < minimum:
        reader.problem(f"{setting.shown()} is too small: use at least {format_size(minimum)}")
        return default
    return setting.text
