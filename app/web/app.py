"""The Starlette application: one constructor call with plain lists."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import DBConnectionError, OperationalError

from app.dbclient import DatabaseBusy
from app.errors import AppError, Unavailable
from app.runtime import running
from app.settings import Settings
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
        middleware=[Middleware(BodyLimit)],
        lifespan=lifespan,
        exception_handlers={
            AppError: app_error,
            HTTPException: http_error,
            OperationalError: database_error,
            DBConnectionError: database_error,
            Exception: server_error,
        },
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
