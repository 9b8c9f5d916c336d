"""Capstan's configuration: the only module that reads the environment.

Every setting is a `CAPSTAN_*` variable documented in the README's configuration table
(a test keeps the two in step). `Settings.from_env(mapping)` takes any mapping, so tests
pass a dict instead of patching `os.environ`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from app.errors import ConfigError

# The server's environment variables a stage process may see; nothing else of it reaches one.
STAGE_ENV_ALLOWLIST = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
    "TZ", "TMPDIR", "TERM", "SSH_AUTH_SOCK", "http_proxy", "https_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("capstan-data")
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    worker_concurrency: int = 4
    max_pending: int = 100
    max_log_bytes: int = 64 * 1024 * 1024
    lease_seconds: float = 15.0
    reconcile_seconds: float = 5.0
    kill_grace_seconds: float = 10.0
    log_level: str = "info"
    url: str = "http://127.0.0.1:8000"
    master_key: str = ""
    master_key_old: str = ""
    metrics_public: bool = False
    token: str = ""
    public_url: str = ""
    github_api_url: str = "https://api.github.com"
    gitlab_api_url: str = ""
    gitea_api_url: str = ""
    sandbox: str = "auto"
    sandbox_uid: int = 65534
    single_team: bool = False
    allow_local_repos: bool = False
    trusted_proxies: str = ""
    notify_allow_private: bool = False
    notify_retry_seconds: float = 2.0
    base_env: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"PATH": "/usr/local/bin:/usr/bin:/bin"},
        metadata={"env": False},
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `CAPSTAN_*` keys of `env`; unknown keys are ignored."""
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            if not field.metadata.get("env", True):
                continue
            raw = env.get(f"CAPSTAN_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, field.type, raw)
        values["base_env"] = {k: env[k] for k in STAGE_ENV_ALLOWLIST if k in env}
        settings = cls(**values)  # type: ignore[arg-type]
        if "CAPSTAN_URL" not in env and ("port" in values or "host" in values):
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
            settings = dataclasses.replace(settings, url=f"http://{host}:{settings.port}")
        return settings

    @property
    def database(self) -> str:
        """The database URL: `CAPSTAN_DATABASE_URL`, or SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.data_dir.resolve() / 'capstan.sqlite3'}"

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgres`: which migrations folder applies."""
        scheme = self.database.split(":", 1)[0]
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
            return "postgres"
        raise ConfigError(f"CAPSTAN_DATABASE_URL: unsupported database {scheme!r}")

    @property
    def base_url(self) -> str:
        """Where people reach this Capstan: links in commit statuses point here."""
        return (self.public_url or self.url).rstrip("/")

    @property
    def projects_dir(self) -> Path:
        return self.data_dir.resolve() / "projects"


def _parse(name: str, kind: object, raw: str) -> object:
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        if kind in ("Path", Path):
            return Path(raw)
        if kind in ("bool", bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ConfigError(f"CAPSTAN_{name.upper()}: not a number: {raw!r}") from None
    return raw
