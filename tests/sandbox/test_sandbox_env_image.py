"""Environment images on the real engine: build once, reuse, run suites, report failures.

The builds reach the package index (the install step is the only networked one)
and install little: pytest and coverage, plus `six` where an extra is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
import pytest
from sandbox_support import (
    BROKEN_DEPENDENCY_REPO,
    FAILING_REPO,
    PACKAGED_REPO,
    TRIVIAL_REPO,
    write_tree,
)

from provenfix.jobs.sandbox.env_image import (
    BASE_LABEL,
    FINGERPRINT_LABEL,
    EnvImage,
    ensure_env_image,
)
from provenfix.jobs.sandbox.errors import BaseImageMissing, EnvironmentInstallError
from provenfix.jobs.sandbox.runner import (
    ContainerSpec,
    DockerSandbox,
    base_environment,
    run_container,
)
from provenfix.jobs.sandbox.settings import DEFAULT_BASE_IMAGE, VENV_READY_LABEL, SandboxSettings
from provenfix.jobs.sandbox.workdir import prepare_workdir

pytestmark = pytest.mark.docker

PYTEST = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def run_suite(
    sandbox: DockerSandbox, env: EnvImage, repo: Path, tmp_path: Path, name: str = "run"
) -> tuple[bool, str, str]:
    workdir = prepare_workdir(repo, tmp_path / name)
    result = sandbox.run(env.tag, PYTEST, workdir)
    return result.ok, result.reason, result.stdout


def test_trivial_suite_passes_in_the_env_image(
    sandbox: DockerSandbox, plain_env: EnvImage, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo", TRIVIAL_REPO)
    ok, reason, stdout = run_suite(sandbox, plain_env, repo, tmp_path)
    assert ok and reason == "exit code 0", stdout
    assert "2 passed" in stdout


def test_failing_suite_is_exit_code_1(
    sandbox: DockerSandbox, plain_env: EnvImage, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo", FAILING_REPO)
    ok, reason, stdout = run_suite(sandbox, plain_env, repo, tmp_path)
    assert not ok and reason == "exit code 1"
    assert "deliberate" in stdout and "1 failed" in stdout


def test_env_image_is_reused(
    docker_client: docker.DockerClient,
    settings: SandboxSettings,
    plain_env: EnvImage,
    tmp_path: Path,
) -> None:
    repo = write_tree(tmp_path / "other", FAILING_REPO)  # other code, same (no) dependencies
    again = ensure_env_image(docker_client, settings, repo)
    assert not again.built and again.image_id == plain_env.image_id
    assert again.tag == plain_env.tag == f"provenfix/env:{plain_env.fingerprint[:16]}"
    assert again.duration_s < 5
    labels = docker_client.images.get(again.tag).labels
    assert labels[FINGERPRINT_LABEL] == plain_env.fingerprint


def test_install_failure_is_reported_with_pips_output(
    docker_client: docker.DockerClient, settings: SandboxSettings, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo", BROKEN_DEPENDENCY_REPO)
    with pytest.raises(EnvironmentInstallError) as caught:
        ensure_env_image(docker_client, settings, repo)
    error = caught.value
    assert error.reason == "exit code 1"
    assert 0 < len(error.log_tail) <= 40
    tail = "\n".join(error.log_tail)
    assert "provenfix-no-such-package-4f1e9c" in tail
    assert "No matching distribution" in tail
    assert "No matching distribution" in str(error)


def test_editable_install_runs_the_mounted_checkout(
    docker_client: docker.DockerClient,
    settings: SandboxSettings,
    sandbox: DockerSandbox,
    tmp_path: Path,
) -> None:
    repo = write_tree(tmp_path / "repo", PACKAGED_REPO)
    env = ensure_env_image(docker_client, settings, repo)
    # The install saw VALUE = 41; the run's copy says 42 and the test wants 42.
    (repo / "src/demo/__init__.py").write_text("VALUE = 42\n")
    ok, _reason, stdout = run_suite(sandbox, env, repo, tmp_path)
    assert ok, stdout
    # Nothing of the checkout stayed in the image: /work/repo is empty without a mount.
    spec = ContainerSpec(
        image=env.tag,
        command=("sh", "-c", "ls -A /work/repo | wc -l; python -c 'import six; print(six.PY3)'"),
        limits=settings.limits,
        environment=base_environment(),
        workdir=None,
    )
    result = run_container(docker_client, spec)
    assert result.ok and result.stdout.split() == ["0", "True"], result


def test_install_command_override(
    docker_client: docker.DockerClient,
    settings: SandboxSettings,
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    tmp_path: Path,
) -> None:
    repo = write_tree(tmp_path / "repo", TRIVIAL_REPO)
    env = ensure_env_image(docker_client, settings, repo, install_command="pip install six")
    assert env.tag != plain_env.tag
    workdir = prepare_workdir(repo, tmp_path / "run")
    result = sandbox.run(env.tag, ["python", "-c", "import six, pytest, coverage"], workdir)
    assert result.ok, result


@pytest.fixture
def foreign_base(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    """Like a pulled python image: no /opt/venv and no label saying it is ready.

    Made afresh each session so the preparation step really runs; every image
    built on it is removed afterwards.
    """
    tag = "provenfix/test-foreign-base:latest"
    container = docker_client.containers.create(
        DEFAULT_BASE_IMAGE, ["rm", "-rf", "/opt/venv", "/work/repo"], user="0:0"
    )
    try:
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        image = container.commit(repository=tag.split(":")[0], tag="latest",
                                 changes=[f"LABEL {VENV_READY_LABEL}=none"])  # fmt: skip
    finally:
        container.remove(force=True)
    yield tag
    built_on_it = docker_client.images.list(filters={"label": f"{BASE_LABEL}={image.id}"})
    prepared = f"provenfix/env:base-{image.id.removeprefix('sha256:')[:16]}"
    for name in [*(t for i in built_on_it for t in i.tags), prepared, tag]:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(name)


def test_a_foreign_base_image_is_prepared_first(
    docker_client: docker.DockerClient,
    settings: SandboxSettings,
    foreign_base: str,
    tmp_path: Path,
) -> None:
    foreign = replace(settings, base_image=foreign_base)
    repo = write_tree(tmp_path / "repo", TRIVIAL_REPO)
    env = ensure_env_image(docker_client, foreign, repo)
    assert env.built
    ok, _reason, stdout = run_suite(DockerSandbox(docker_client, foreign), env, repo, tmp_path)
    assert ok and "2 passed" in stdout, stdout


def test_missing_base_image_says_how_to_fix(
    docker_client: docker.DockerClient, settings: SandboxSettings, tmp_path: Path
) -> None:
    missing = replace(settings, base_image="provenfix/no-such-base:x", pull_missing_base=False)
    with pytest.raises(BaseImageMissing, match="build-sandbox-base"):
        ensure_env_image(docker_client, missing, write_tree(tmp_path / "r", TRIVIAL_REPO))
    pulled = replace(missing, pull_missing_base=True)  # no registry here: the pull fails
    with pytest.raises(BaseImageMissing, match="pull failed"):
        ensure_env_image(docker_client, pulled, write_tree(tmp_path / "r2", TRIVIAL_REPO))
