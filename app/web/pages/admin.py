"""Admin pages: the queue, users, tokens, the audit trail."""

from __future__ import annotations

from starlette.routing import BaseRoute

PAGES: list[BaseRoute] = []
