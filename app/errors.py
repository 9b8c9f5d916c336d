"""Errors that carry their HTTP status and a stable snake_case code.

One handler in `app.web.app` renders them as `{"error": {"code", "message"}}`.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing or malformed; Capstan refuses to start."""


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after
        if code:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        """What the web layer sends with it: `Retry-After` when the caller may try again."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class TooLarge(AppError):
    status = 413
    code = "too_large"


class Invalid(AppError):
    """A field failed validation; `field` names it."""

    status = 422
    code = "invalid"


class Throttled(AppError):
    status = 429
    code = "throttled"


class Unavailable(AppError):
    """A dependency (Redis, a git remote) is down; the client may retry."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
