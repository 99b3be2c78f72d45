"""The sandbox: run a repository's own tests on hostile code in hardened containers.

    sandbox = sandbox_from_env(os.environ)                 # SandboxUnavailable if no engine
    env = ensure_env_image(sandbox.client, sandbox.settings, checkout)
    workdir = prepare_workdir(checkout, scratch / "run-1")  # a copy per run
    result = sandbox.run(env.tag, ["python", "-m", "pytest", "-q"], workdir)
    result.ok, result.reason                               # "timed out after 600 s", ...

The base image is built by `python -m jobs.sandbox.base_image` (scripts/build-sandbox-base).
See docs/sandbox.md for the threat model and the limits.
"""

from jobs.sandbox.engine import connect_docker
from jobs.sandbox.env_image import EnvImage, dependency_fingerprint, ensure_env_image
from jobs.sandbox.errors import (
    BaseImageBuildError,
    BaseImageMissing,
    EnvironmentInstallError,
    SandboxError,
    SandboxRunError,
    SandboxUnavailable,
    WorkdirError,
)
from jobs.sandbox.runner import DockerSandbox, SandboxResult, sandbox_from_env
from jobs.sandbox.settings import (
    SandboxConfigError,
    SandboxLimits,
    SandboxSettings,
    settings_from_env,
)
from jobs.sandbox.workdir import prepare_workdir, read_result_file, remove_workdir

__all__ = [
    "BaseImageBuildError",
    "BaseImageMissing",
    "DockerSandbox",
    "EnvImage",
    "EnvironmentInstallError",
    "SandboxConfigError",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "SandboxRunError",
    "SandboxSettings",
    "SandboxUnavailable",
    "WorkdirError",
    "connect_docker",
    "dependency_fingerprint",
    "ensure_env_image",
    "prepare_workdir",
    "read_result_file",
    "remove_workdir",
    "sandbox_from_env",
    "settings_from_env",
]
