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

from jobs.errors import ConfigError
from jobs.factory import SANDBOX_MODES
from jobs.generation.code_model.config import ModelOptions, model_options_from_env

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///provenfix.db"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub never delivers a payload above 25 MB
DEFAULT_JOB_TIMEOUT_S = 1800
DEFAULT_QUEUE = "provenfix"
DEFAULT_DELIVERY_TTL_S = 3 * 24 * 3600  # GitHub keeps deliveries (and redelivers) for 3 days

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


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
    model: ModelOptions = field(default_factory=ModelOptions)  # PROVENFIX_MODEL*, off by default
    sandbox: str = "docker"
    queue_name: str = DEFAULT_QUEUE
    delivery_ttl_s: int = DEFAULT_DELIVERY_TTL_S
    work_dir: Path | None = None  # where jobs clone; None: the system's temporary folder

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
        if self.sandbox not in SANDBOX_MODES:
            raise SettingsError(
                f"PROVENFIX_SANDBOX={self.sandbox!r} is not one of {', '.join(SANDBOX_MODES)}"
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
    """Build the settings from environment variables (see docs/github-app.md)."""
    app_id = _int(env, "PROVENFIX_APP_ID", None, minimum=1, hint="the App ID on the App's page")
    secret = env.get("PROVENFIX_WEBHOOK_SECRET", "")
    if not secret.strip():
        raise SettingsError(
            "PROVENFIX_WEBHOOK_SECRET is not set: the service refuses to start without it, "
            "because unsigned webhooks could be forged; set it to the webhook secret of the "
            "GitHub App (generate one with `openssl rand -hex 32`)"
        )
    inline = env.get("PROVENFIX_PRIVATE_KEY", "").strip()
    path = env.get("PROVENFIX_PRIVATE_KEY_PATH", "").strip()
    if inline and path:
        raise SettingsError(
            "both PROVENFIX_PRIVATE_KEY and PROVENFIX_PRIVATE_KEY_PATH are set; keep only one"
        )
    if not inline and not path:
        raise SettingsError(
            "the App's private key is missing: set PROVENFIX_PRIVATE_KEY_PATH to the .pem file "
            "generated on the GitHub App's page (or PROVENFIX_PRIVATE_KEY to its text)"
        )
    private_key = (
        _check_pem(inline.replace("\\n", "\n"), "PROVENFIX_PRIVATE_KEY") if inline else None
    )
    sandbox = env.get("PROVENFIX_SANDBOX", "docker").strip().lower() or "docker"
    if sandbox not in SANDBOX_MODES:
        raise SettingsError(
            f"PROVENFIX_SANDBOX={sandbox!r} is not valid; use docker (hardened containers, "
            "the default), none (the worker's own Python, no isolation) or off (no validation)"
        )
    work_dir = env.get("PROVENFIX_WORK_DIR", "").strip()
    return BotSettings(
        app_id=app_id,
        webhook_secret=secret,
        private_key=private_key,
        private_key_path=Path(path) if path else None,
        redis_url=_redis_url(env),
        database_url=_database_url(env),
        github_api_url=_api_url(env),
        max_body_bytes=_int(
            env,
            "PROVENFIX_MAX_BODY_BYTES",
            DEFAULT_MAX_BODY_BYTES,
            minimum=1024,
            hint="a size in bytes (GitHub caps payloads at 25 MB)",
        ),
        job_timeout_s=_int(
            env,
            "PROVENFIX_JOB_TIMEOUT_S",
            DEFAULT_JOB_TIMEOUT_S,
            minimum=30,
            maximum=86_400,
            hint="seconds one analysis may take",
        ),
        skip_drafts=_bool(env, "PROVENFIX_SKIP_DRAFTS", True),
        model=model_options_from_env(env),
        sandbox=sandbox,
        queue_name=_queue_name(env),
        delivery_ttl_s=_int(
            env,
            "PROVENFIX_DELIVERY_TTL_S",
            DEFAULT_DELIVERY_TTL_S,
            minimum=60,
            hint="seconds a delivery id is remembered for deduplication",
        ),
        work_dir=Path(work_dir) if work_dir else None,
    )


def _check_pem(text: str, name: str, *, path: str | None = None) -> str:
    stripped = text.strip()
    if not (stripped.startswith("-----BEGIN") and stripped.endswith("PRIVATE KEY-----")):
        where = f"{name}={path}" if path else name
        raise SettingsError(
            f"{where} is not a PEM private key (expected '-----BEGIN RSA PRIVATE KEY-----'); "
            "use the .pem file generated on the GitHub App's page"
        )
    return stripped + "\n"


def _int(
    env: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int,
    maximum: int | None = None,
    hint: str,
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            raise SettingsError(f"{name} is not set; set it to {hint}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer; set it to {hint}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(f"{name}={value} is out of range: it must be {bounds} ({hint})")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean; use true or false")


def _redis_url(env: Mapping[str, str]) -> str:
    url = env.get("PROVENFIX_REDIS_URL", "").strip() or DEFAULT_REDIS_URL
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            f"PROVENFIX_REDIS_URL={url!r} is not a Redis URL; use redis://HOST:PORT/DB "
            "(rediss:// for TLS, unix:///path/redis.sock for a socket)"
        )
    return url


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("PROVENFIX_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(
            f"PROVENFIX_DATABASE_URL={url!r} is not a database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
        )
    # The only PostgreSQL driver installed is psycopg 3: name it, whatever the URL says.
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return url
    raise SettingsError(
        f"PROVENFIX_DATABASE_URL uses {scheme!r}; supported are sqlite:///PATH and "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
    )


def _api_url(env: Mapping[str, str]) -> str:
    url = (env.get("PROVENFIX_GITHUB_API_URL", "").strip() or DEFAULT_GITHUB_API_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"PROVENFIX_GITHUB_API_URL={url!r} is not an http(s) URL; use "
            "https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server"
        )
    return url


def _queue_name(env: Mapping[str, str]) -> str:
    name = env.get("PROVENFIX_QUEUE", "").strip() or DEFAULT_QUEUE
    if not all(c.isalnum() or c in "-_" for c in name):
        raise SettingsError(f"PROVENFIX_QUEUE={name!r}: use letters, digits, '-' and '_' only")
    return name
