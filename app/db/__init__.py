"""Database configuration and migrations (Aerich, one folder per dialect)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aerich import Command
from tortoise.backends.base.config_generator import expand_db_url

from app.settings import Settings

# Installed, the top-level `migrations/` folder is the package `app.migrations` (pyproject.toml);
# in a source tree (or an editable install) it stays at the top level.
_INSTALLED = Path(__file__).resolve().parents[1] / "migrations"
MIGRATIONS = (
    _INSTALLED if _INSTALLED.is_dir() else Path(__file__).resolve().parents[2] / "migrations"
)
MODELS = ["app.models", "aerich.models"]


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """Tortoise's configuration, with the clients of `app.db.clients` for either dialect."""
    url = settings.database
    if settings.dialect == "sqlite":
        url += "?busy_timeout=5000&synchronous=NORMAL"
    connection = expand_db_url(url) | {"engine": "app.db.clients"}
    return {
        "connections": {"default": connection},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(settings: Settings) -> list[str]:
    """Apply every pending migration of the configured dialect; return the applied names.

    Runs in a task of its own: the ORM context Aerich opens stays inside it.
    """
    return await asyncio.create_task(_migrate(settings))


async def _migrate(settings: Settings) -> list[str]:
    location = MIGRATIONS / settings.dialect
    async with Command(tortoise_config(settings), app="models", location=str(location)) as cmd:
        return list(await cmd.upgrade(run_in_transaction=True))
