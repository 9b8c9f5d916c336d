"""Project pages: create, overview, history, settings, secrets, members, webhooks."""

from __future__ import annotations

from starlette.routing import BaseRoute

PAGES: list[BaseRoute] = []
