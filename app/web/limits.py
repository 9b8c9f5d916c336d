"""How much of a request body Capstan reads: 25 MiB for a webhook delivery, 1 MiB elsewhere.

Enforced while reading, below every handler: a `Content-Length` over the limit is answered 413
before the app runs, and a chunked body is cut off with 413 as soon as what has arrived passes
the limit, so no request can make the server hold more than its route's limit. The bytes a
client goes on sending after the answer are discarded by the HTTP server, not stored.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TooLarge

MAX_BODY = 1024 * 1024
MAX_HOOK_BODY = 25 * 1024 * 1024


def limit_for(path: str) -> int:
    return MAX_HOOK_BODY if path.startswith("/hooks/") else MAX_BODY


class BodyTooLarge(TooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over {limit} bytes ({limit // (1024 * 1024)} MiB)")


def declared_length(scope: Scope) -> int | None:
    """The `Content-Length` the client declared (None without one; -1 if malformed)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else -1
    return None


class BodyLimit:
    """ASGI middleware that stops reading a request body at its route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, BodyTooLarge(limit))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as exc:
            # A handler that reads the body turns this into its 413 itself; this one came
            # from a reader outside any handler (a streaming response's disconnect listener).
            if not started:
                await _refuse(send, exc)


async def _refuse(send: Send, error: TooLarge) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
