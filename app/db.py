"""Database configuration and migrations (Aerich, one folder per dialect)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aerich import Command

from app.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MODELS = ["app.models", "aerich.models"]


def tortoise_config(settings: Settings) -> dict[str, Any]:
    url = settings.database
    if settings.dialect == "sqlite":
        url += "?busy_timeout=10000&synchronous=NORMAL"
    return {
        "connections": {"default": url},
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
