"""Settings come from the environment, and every one is documented in the README."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.keyring.keys import parse_key
from app.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def env_names() -> set[str]:
    return {
        f"CAPSTAN_{f.name.upper()}"
        for f in dataclasses.fields(Settings)
        if f.metadata.get("env", True)
    }


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(CAPSTAN_[A-Z_]+)` \|", README.read_text(), re.M))
    assert documented == env_names()


def test_settings_are_read_from_a_mapping() -> None:
    settings = Settings.from_env(
        {
            "CAPSTAN_PORT": "9001",
            "CAPSTAN_WORKER_CONCURRENCY": "2",
            "CAPSTAN_LEASE_SECONDS": "2.5",
            "CAPSTAN_DATA_DIR": "/tmp/x",
            "PATH": "/bin",
            "SECRET_THING": "no",
        }
    )
    assert settings.port == 9001 and settings.worker_concurrency == 2
    assert settings.lease_seconds == 2.5 and settings.data_dir == Path("/tmp/x")
    assert settings.url == "http://127.0.0.1:9001"
    assert settings.base_env == {"PATH": "/bin"}
    assert settings.database == "sqlite:///tmp/x/capstan.sqlite3"


def test_bad_values_stop_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match="CAPSTAN_PORT"):
        Settings.from_env({"CAPSTAN_PORT": "eighty"})
    with pytest.raises(ConfigError, match="CAPSTAN_MASTER_KEY"):
        parse_key("short", "CAPSTAN_MASTER_KEY")
    with pytest.raises(ConfigError, match="unsupported database"):
        _ = Settings.from_env({"CAPSTAN_DATABASE_URL": "mysql://x"}).dialect
