"""The models and every dialect's migrations agree: nothing is left to migrate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aerich import Command

from app.db import MIGRATIONS, migrate, tortoise_config
from app.settings import Settings

URLS = {"sqlite": "sqlite://{tmp}/check.sqlite3", "postgres": "postgres://nobody@127.0.0.1:1/none"}


@pytest.mark.parametrize("dialect", sorted(URLS))
async def test_models_match_the_migrations(dialect: str, tmp_path: Path) -> None:
    shutil.copytree(MIGRATIONS / dialect, tmp_path / dialect)
    settings = Settings(database_url=URLS[dialect].format(tmp=tmp_path))
    cmd = Command(tortoise_config(settings), app="models", location=str(tmp_path / dialect))
    await cmd.init(offline=True)
    try:
        assert await cmd.migrate("pending", no_input=True, offline=True) == ""
    finally:
        await cmd.aclose()


async def test_migrate_applies_once(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite://{tmp_path}/m.sqlite3")
    assert await migrate(settings) == [
        "0_init.py",
        "1_webhooks.py",
        "2_seen_secrets.py",
        "3_access.py",
        "4_audit_project.py",
        "5_enums.py",
        "6_notifications.py",
        "7_history_index.py",
        "8_log_retention.py",
        "9_targets.py",
    ]
    assert await migrate(settings) == []
