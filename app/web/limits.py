"""How much of a request body Capstan reads: 25 MiB for a webhook delivery, 1 MiB elsewhere.

Enforced while reading, below every handler: a `Content-Length` over the limit is answered 413
before the app runs, and a chunked body is cut off with 413 as soon as what has arrived passes
the limit (the app then hears that the client left), so no request makes the server hold more
than its route's limit. What a client goes on sending after the answer, uvicorn reads and
drops until its keep-alive timeout closes the connection; none of it is kept.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TooLarge

MAX_BODY = 1024 * 1024
MAX_HOOK_BODY = 25 * 1024 * 1024


def limit_for(path: str) -> int:
    return MAX_HOOK_BODY if path.startswith("/hooks/") else MAX_BODY


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
            await _refuse(send, limit)
            return
        request = _Limited(limit, receive, send)
        try:
            await self.app(scope, request.receive, request.send)
        except Exception:
            # After its 413 the app was told the client left; whatever it raised for that
            # (a handler reading the body gets ClientDisconnect) ends here, not in a 500.
            if not request.answered:
                raise


class _Limited:
    """One request's receive and send: past `limit` body bytes the request is answered 413,
    and from then on the app only hears that the client left (nothing more is read) and what
    it still sends is dropped.

    Once the app's own response has started, nothing counts: the only reader left is a
    streaming response's disconnect listener, which drops each chunk as it comes."""

    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self.limit, self._receive, self._send = limit, receive, send
        self.received = 0
        self.started = self.answered = False

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request" or self.started:
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.answered = True
            await _refuse(self._send, self.limit)
            return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


async def _refuse(send: Send, limit: int) -> None:
    error = TooLarge(f"the body is over {limit} bytes ({limit // (1024 * 1024)} MiB)")
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
