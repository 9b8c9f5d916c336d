"""The deployment page: status, stages, the live log."""

from __future__ import annotations

from starlette.routing import BaseRoute

PAGES: list[BaseRoute] = []
