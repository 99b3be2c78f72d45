"""The service's settings, read from the environment once at start-up.

`load_settings` is pure: it takes the environment as a mapping (the caller
passes `os.environ`), touches no file and no network, and fails fast with a
`SettingsError` whose message names the variable and how to fix it. The one
setting that lives in a file, the App's private key given by path, is read by
`BotSettings.private_key_pem()`, which `provenfix serve` and `provenfix worker`
call before they start, so a wrong path stops them at once as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from provenfix.bot.acceptance import AcceptancePolicy, read_acceptance_policy
from provenfix.bot.dashboard.settings import DashboardSettings, read_dashboard_settings
from provenfix.jobs.config import VALIDATION_MODES, PipelineConfig, read_pipeline_config
from provenfix.jobs.errors import ConfigError
from provenfix.jobs.settings_reader import SettingsReader

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///provenfix.db"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub never delivers a payload above 25 MB
DEFAULT_JOB_TIMEOUT_S = 1800
DEFAULT_QUEUE = "provenfix"
DEFAULT_DELIVERY_TTL_S = 3 * 24 * 3600  # GitHub keeps deliveries (and redelivers) for 3 days


class SettingsError(ConfigError):
    """A service setting is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class BotSettings:
    app_id: int
    webhook_secret: str = field(repr=False)
    private_key: str | None = field(default=None, repr=False)  # PEM text
    private_key_path: Path | None = None
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    github_api_url: str = DEFAULT_GITHUB_API_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    job_timeout_s: int = DEFAULT_JOB_TIMEOUT_S
    skip_drafts: bool = True
    # the pipeline's: validation mode, sandbox, code model (off by default), rules (jobs.config)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    queue_name: str = DEFAULT_QUEUE
    delivery_ttl_s: int = DEFAULT_DELIVERY_TTL_S
    work_dir: Path | None = None  # where jobs clone; None: the system's temporary folder
    acceptance: AcceptancePolicy = field(default_factory=AcceptancePolicy)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)

    def __post_init__(self) -> None:
        if not self.webhook_secret:
            raise SettingsError(
                "PROVENFIX_WEBHOOK_SECRET is empty: the service refuses to accept unsigned "
                "webhooks; set it to the secret entered in the GitHub App's settings"
            )
        if (self.private_key is None) == (self.private_key_path is None):
            raise SettingsError(
                "set exactly one of PROVENFIX_PRIVATE_KEY (the PEM text) and "
                "PROVENFIX_PRIVATE_KEY_PATH (the path of the .pem file GitHub generated)"
            )
        if self.pipeline.validation not in VALIDATION_MODES:
            raise SettingsError(
                f"PROVENFIX_SANDBOX={self.pipeline.validation!r} is not one of "
                f"{', '.join(VALIDATION_MODES)}"
            )

    def private_key_pem(self) -> str:
        """The App's private key, read from PROVENFIX_PRIVATE_KEY_PATH when given by path."""
        if self.private_key is not None:
            return self.private_key
        assert self.private_key_path is not None
        try:
            text = self.private_key_path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not an ASCII PEM file"
            raise SettingsError(
                f"PROVENFIX_PRIVATE_KEY_PATH={self.private_key_path}: cannot read it ({reason}); "
                "point it at the private key (.pem) downloaded from the GitHub App's settings"
            ) from None
        return _check_pem(text, "PROVENFIX_PRIVATE_KEY_PATH", path=str(self.private_key_path))


def load_settings(env: Mapping[str, str]) -> BotSettings:
    """Build the settings from environment variables (see docs/github-app.md), reporting
    every missing or invalid one at once."""
    reader = SettingsReader(env)
    app_id = reader.integer("PROVENFIX_APP_ID", 0, low=1, hint="the App ID on the App's page")
    if reader.get("PROVENFIX_APP_ID") is None:
        reader.problem("PROVENFIX_APP_ID is not set; set it to the App ID on the App's page")
    secret = reader.raw("PROVENFIX_WEBHOOK_SECRET") or ""
    if not secret.strip():
        reader.problem(
            "PROVENFIX_WEBHOOK_SECRET is not set: the service refuses to start without it, "
            "because unsigned webhooks could be forged; set it to the webhook secret of the "
            "GitHub App (generate one with `openssl rand -hex 32`)"
        )
    private_key, key_path = _private_key(reader)
    redis_url, database_url, api_url = _redis_url(reader), _database_url(reader), _api_url(reader)
    max_body_bytes = reader.integer(
        "PROVENFIX_MAX_BODY_BYTES",
        DEFAULT_MAX_BODY_BYTES,
        low=1024,
        hint="a size in bytes (GitHub caps payloads at 25 MB)",
    )
    job_timeout_s = reader.integer(
        "PROVENFIX_JOB_TIMEOUT_S",
        DEFAULT_JOB_TIMEOUT_S,
        low=30,
        high=86_400,
        hint="seconds one analysis may take",
    )
    skip_drafts = reader.boolean("PROVENFIX_SKIP_DRAFTS", True)
    pipeline = read_pipeline_config(reader)
    queue_name = _queue_name(reader)
    delivery_ttl_s = reader.integer(
        "PROVENFIX_DELIVERY_TTL_S",
        DEFAULT_DELIVERY_TTL_S,
        low=60,
        hint="seconds a delivery id is remembered for deduplication",
    )
    work_dir = reader.path("PROVENFIX_WORK_DIR")
    acceptance = read_acceptance_policy(reader)
    dashboard = read_dashboard_settings(reader, api_url)
    reader.raise_problems(SettingsError)
    return BotSettings(
        app_id=app_id,
        webhook_secret=secret,
        private_key=private_key,
        private_key_path=key_path,
        redis_url=redis_url,
        database_url=database_url,
        github_api_url=api_url,
        max_body_bytes=max_body_bytes,
        job_timeout_s=job_timeout_s,
        skip_drafts=skip_drafts,
        pipeline=pipeline,
        queue_name=queue_name,
        delivery_ttl_s=delivery_ttl_s,
        work_dir=work_dir,
        acceptance=acceptance,
        dashboard=dashboard,
    )


def _private_key(reader: SettingsReader) -> tuple[str | None, Path | None]:
    inline = (reader.raw("PROVENFIX_PRIVATE_KEY") or "").strip()
    path = reader.path("PROVENFIX_PRIVATE_KEY_PATH")
    if inline and path:
        reader.problem(
            "both PROVENFIX_PRIVATE_KEY and PROVENFIX_PRIVATE_KEY_PATH are set; keep only one"
        )
        return None, None
    if not inline and not path:
        reader.problem(
            "the App's private key is missing: set PROVENFIX_PRIVATE_KEY_PATH to the .pem file "
            "generated on the GitHub App's page (or PROVENFIX_PRIVATE_KEY to its text)"
        )
        return None, None
    if path is not None:
        return None, path
    try:
        return _check_pem(inline.replace("\\n", "\n"), "PROVENFIX_PRIVATE_KEY"), None
    except SettingsError as exc:
        reader.problem(str(exc))
        return None, None


def _check_pem(text: str, name: str, *, path: str | None = None) -> str:
    stripped = text.strip()
    if not (stripped.startswith("-----BEGIN") and stripped.endswith("PRIVATE KEY-----")):
        where = f"{name}={path}" if path else name
        raise SettingsError(
            f"{where} is not a PEM private key (expected '-----BEGIN RSA PRIVATE KEY-----'); "
            "use the .pem file generated on the GitHub App's page"
        )
    return stripped + "\n"


def _redis_url(reader: SettingsReader) -> str:
    url = reader.text("PROVENFIX_REDIS_URL", DEFAULT_REDIS_URL)
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        reader.problem(
            f"PROVENFIX_REDIS_URL={url!r} is not a Redis URL; use redis://HOST:PORT/DB "
            "(rediss:// for TLS, unix:///path/redis.sock for a socket)"
        )
        return DEFAULT_REDIS_URL
    return url


def _database_url(reader: SettingsReader) -> str:
    url = reader.text("PROVENFIX_DATABASE_URL", DEFAULT_DATABASE_URL)
    scheme, sep, rest = url.partition("://")
    if not sep:
        reader.problem(
            f"PROVENFIX_DATABASE_URL={url!r} is not a database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
        )
        return DEFAULT_DATABASE_URL
    # The only PostgreSQL driver installed is psycopg 3: name it, whatever the URL says.
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return url
    reader.problem(
        f"PROVENFIX_DATABASE_URL uses {scheme!r}; supported are sqlite:///PATH and "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
    )
    return DEFAULT_DATABASE_URL


def _api_url(reader: SettingsReader) -> str:
    url = reader.text("PROVENFIX_GITHUB_API_URL", DEFAULT_GITHUB_API_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        reader.problem(
            f"PROVENFIX_GITHUB_API_URL={url!r} is not an http(s) URL; use "
            "https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server"
        )
        return DEFAULT_GITHUB_API_URL
    return url


def _queue_name(reader: SettingsReader) -> str:
    name = reader.text("PROVENFIX_QUEUE", DEFAULT_QUEUE)
    if not all(c.isalnum() or c in "-_" for c in name):
        reader.problem(f"PROVENFIX_QUEUE={name!r}: use letters, digits, '-' and '_' only")
        return DEFAULT_QUEUE
    return name
