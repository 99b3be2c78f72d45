"""compose.yaml: its structure, and its environment as the code actually reads it.

The variables are interpolated the way Compose does (`${VAR}`, `${VAR:-default}`,
`${VAR:?error}`), then handed to the real readers: bot.settings.load_settings, the
sandbox's settings_from_env and the model's model_options_from_env. Every PROVENFIX_*
name the file sets must be one the code reads (found in the sources, not listed here).
The Compose CLI, when installed, must accept the file too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import HARDENING, PROJECT_ROOT

from provenfix.bot.settings import load_settings
from provenfix.jobs.generation.code_model.config import model_options_from_env
from provenfix.jobs.sandbox.settings import settings_from_env

COMPOSE = PROJECT_ROOT / "compose.yaml"
OPERATOR_ENV = {  # what docs/deploy.md tells the operator to export
    "PROVENFIX_APP_ID": "4242",
    "PROVENFIX_WEBHOOK_SECRET": "s3cret",
    "POSTGRES_PASSWORD": "pg-pass",
    "DOCKER_GID": "998",
}
_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, applied to every string of the loaded file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise MissingVariable(f"{name}: {arg}")
        return ""

    return _VAR.sub(substitute, value)


def load(env: dict[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merge keys (<<) resolved
    loaded: dict[str, Any] = interpolate(raw, env)
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service["environment"].items()}


def variables_the_code_reads() -> set[str]:
    names: set[str] = set()
    for folder in ("bot", "jobs", "actions"):
        for source in (PROJECT_ROOT / folder).rglob("*.py"):
            names.update(re.findall(r"[\"'](PROVENFIX_[A-Z0-9_]+)[\"']", source.read_text()))
    return names


def test_services_roles_and_the_docker_socket_only_in_the_worker() -> None:
    services = load(OPERATOR_ENV)["services"]
    assert set(services) >= {"web", "worker", "redis", "postgres"}
    web, worker = services["web"], services["worker"]
    assert web["image"] == worker["image"]  # one image, two commands
    assert web["command"][:3] == ["serve", "--bind", "0.0.0.0:8000"]
    assert worker["command"] == ["worker"]
    socket = "/var/run/docker.sock:/var/run/docker.sock"
    assert socket in worker["volumes"]
    assert not any("docker.sock" in v for v in web.get("volumes", []))
    assert worker["group_add"] == [OPERATOR_ENV["DOCKER_GID"]]
    # `--scale worker=N` needs replicas with nothing of their own.
    assert "container_name" not in worker and "ports" not in worker
    # tests/deploy/test_image.py runs the image with these same settings
    tmpfs = [HARDENING[i + 1] for i, option in enumerate(HARDENING) if option == "--tmpfs"]
    for service in (web, worker):
        assert service["tmpfs"] == tmpfs and service["init"] is True
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_worker_scratch_space_has_the_same_path_inside_and_on_the_host() -> None:
    for host_dir in ("/var/lib/provenfix/work", "/srv/provenfix-scratch"):
        env = {**OPERATOR_ENV}
        if host_dir != "/var/lib/provenfix/work":
            env["PROVENFIX_HOST_WORK_DIR"] = host_dir
        worker = load(env)["services"]["worker"]
        assert f"{host_dir}:{host_dir}" in worker["volumes"]
        variables = environment(worker)
        for name in ("TMPDIR", "PROVENFIX_WORK_DIR", "PROVENFIX_SANDBOX_SCRATCH"):
            assert variables[name] == host_dir


def test_environment_is_what_the_code_reads_and_it_loads() -> None:
    compose = load(OPERATOR_ENV)
    services = compose["services"]
    known = variables_the_code_reads()
    for name in ("web", "worker"):
        variables = environment(services[name])
        unknown = {k for k in variables if k.startswith("PROVENFIX_")} - known
        assert not unknown, f"{name} sets variables no code reads: {sorted(unknown)}"

        settings = load_settings(variables)
        assert settings.app_id == 4242 and settings.pipeline.validation == "docker"
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.database_url == (
            "postgresql+psycopg://provenfix:pg-pass@postgres:5432/provenfix"
        )
        secret_path = str(settings.private_key_path)
        (secret,) = services[name]["secrets"]
        assert secret_path == f"/run/secrets/{secret}" and secret in compose["secrets"]

    worker_env = environment(services["worker"])
    sandbox = settings_from_env(worker_env)
    assert sandbox.base_image == "python:3.12-slim" and sandbox.limits.memory == "1g"
    assert str(sandbox.scratch_dir) == "/var/lib/provenfix/work"
    assert not model_options_from_env(worker_env).enabled  # off unless the operator sets it
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("missing", sorted(OPERATOR_ENV))
def test_refuses_to_start_without_a_required_variable(missing: str) -> None:
    env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
    with pytest.raises(MissingVariable, match=missing):
        load(env)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if plugin.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_cli_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.fail(
            "no Compose CLI: neither `docker compose` nor `docker-compose` is installed "
            "(scripts/setup installs Debian's docker-compose)",
            pytrace=False,
        )
    proc = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **OPERATOR_ENV},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout)
    assert set(rendered["services"]) >= {"web", "worker", "redis", "postgres"}
    worker_env = rendered["services"]["worker"]["environment"]
    assert worker_env["PROVENFIX_SANDBOX_SCRATCH"] == "/var/lib/provenfix/work"
