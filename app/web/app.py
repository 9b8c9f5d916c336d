"""The Starlette application: one constructor call with plain lists."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp
from tortoise.exceptions import DBConnectionError, OperationalError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.db.clients import DatabaseBusy
from app.errors import AppError, Unavailable
from app.runtime import running
from app.settings import Settings
from app.web.forms import FormBridge, SecurityHeaders
from app.web.limits import BodyLimit
from app.web.routes import ROUTES

log = logging.getLogger("capstan.web")

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def create_app(settings: Settings, *, worker: bool = True) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with running(settings, worker=worker) as rt:
            yield {"runtime": rt}

    return Starlette(
        routes=ROUTES,
        middleware=[
            *proxies(settings),
            Middleware(SecurityHeaders),
            Middleware(BodyLimit),
            Middleware(FormBridge),
        ],
        lifespan=lifespan,
        exception_handlers={
            AppError: app_error,
            HTTPException: http_error,
            OperationalError: database_error,
            DBConnectionError: database_error,
            Exception: server_error,
        },
    )


def proxies(settings: Settings) -> list[Middleware]:
    """`X-Forwarded-For` and `-Proto` count only from the addresses in
    CAPSTAN_TRUSTED_PROXIES (none by default): from anyone else they are ignored, so a client
    cannot pick the address the login throttle and the audit trail see."""
    trusted = [host.strip() for host in settings.trusted_proxies.split(",") if host.strip()]
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)] if trusted else []


def server_config(app: ASGIApp, settings: Settings, *, grace: int) -> uvicorn.Config:
    """How uvicorn serves Capstan (`capstan serve`, and the tests). Its own proxy-header
    handling is off: it trusts 127.0.0.1 by default, and so every local user; the app decides."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=grace,
        proxy_headers=False,
    )


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    body = {"error": {"code": code, "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def database_error(request: Request, exc: Exception) -> Response:
    """A database that does not answer in time is a 503; any other database error is a bug."""
    if not isinstance(exc, DBConnectionError | DatabaseBusy) and "database is locked" not in str(
        exc
    ):
        return await server_error(request, exc)
    log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)})
    return await app_error(request, Unavailable(str(exc), code="database_unavailable"))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    body = {"error": {"code": "internal_error", "message": "internal server error"}}
    return JSONResponse(body, status_code=500)
