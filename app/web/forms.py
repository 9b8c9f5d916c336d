"""HTML forms speak the JSON API: a page's form posts to the API route itself.

`FormBridge` (ASGI middleware) turns an `application/x-www-form-urlencoded` POST to `/api/…`,
`/login` or `/logout` into the JSON request the API takes, runs it through the whole app (the
same guard, validation, audit), and answers the browser with a 303 to the page to show next.
A form says how with hidden fields:

- `_method`: PUT, PATCH or DELETE (HTML forms only POST);
- `_csrf`: the session's CSRF token (sent on as `X-CSRF-Token`);
- `_next`: where to go on success; `{id}` in it is replaced by the answer's `id`;
- `_back`: where to go on failure (default: the page the form is on).

A field `name:int`, `name:bool` (last value wins: a hidden `false` before a checkbox),
`name:json`, `name:lines` (one list item per line) or `name:list` (every value of a repeated
field: checkboxes; a hidden blank one makes an empty list) is converted; `name:null` is null
when blank; a plain blank field is left out. What the API answered (an error and its field, a
value shown once) waits for the next page as the flash: in Redis under the session, encrypted
with the vault, for two minutes, read once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote

from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.keyring.vault import VaultError

FORM_TYPE = "application/x-www-form-urlencoded"
FLASH_TTL = 120
# Values the API shows once: kept (encrypted) for the next page to show.
SHOWN_ONCE = ("webhook_secret", "token")
# Submitted values never put back into a form after an error.
PRIVATE_FIELDS = {"password", "value", "_csrf"}
INTEGER = re.compile(r"-?[0-9]{1,18}")
LOGIN_ERRORS = {"unauthenticated", "throttled", "cross_site"}


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def convert(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, Any]]:
    """The form's control fields (`_method`, …) and its JSON body."""
    control: dict[str, str] = {}
    body: dict[str, Any] = {}
    for key, raw in pairs:
        if key.startswith("_"):
            control[key] = raw
            continue
        name, _, kind = key.partition(":")
        value = raw.strip() if kind else raw
        if kind == "int":
            if value:
                if not INTEGER.fullmatch(value):
                    raise FormError(name, f"{name} must be a whole number")
                body[name] = int(value)
        elif kind == "bool":
            body[name] = value in ("1", "true", "on", "yes")
        elif kind == "json":
            if value:
                try:
                    body[name] = json.loads(value)
                except (ValueError, RecursionError) as exc:
                    raise FormError(name, f"{name} is not valid JSON: {exc}") from None
        elif kind == "lines":
            body[name] = [line.strip() for line in value.splitlines() if line.strip()]
        elif kind == "list":  # checkboxes: every value of the repeated field, in order
            items = body.setdefault(name, [])
            if value:
                items.append(value)
        elif kind == "null":
            body[name] = value or None
        elif kind:
            raise FormError(name, f"unknown field kind {kind!r}")
        elif raw != "":
            body[name] = raw
    return control, body


# A path on this server: printable ASCII without backslashes (browsers read `\\` as `/` and drop
# tabs and newlines, so `/\t/evil.example` would be `//evil.example`), not `//host`.
LOCAL_PATH = re.compile(r"/(?!/)[\x21-\x5b\x5d-\x7e]*")


def local_path(value: str | None, fallback: str) -> str:
    """`value` if it is a path on this server, else `fallback`: never a redirect elsewhere."""
    return value if value and LOCAL_PATH.fullmatch(value) else fallback


def _flash_key(cookie: str) -> str:
    return "capstan:flash:" + hashlib.sha256(cookie.encode()).hexdigest()


async def put_flash(scope: Scope, cookie: str | None, flash: dict[str, Any]) -> None:
    runtime = scope.get("state", {}).get("runtime")
    if runtime is None or not cookie:
        return
    sealed = runtime.vault.encrypt(json.dumps(flash), "flash")
    with contextlib.suppress(RedisError):  # the action happened; only its message is lost
        await runtime.jobs.redis.set(_flash_key(cookie), sealed, ex=FLASH_TTL)


async def take_flash(request: Request) -> dict[str, Any]:
    """What the last form did, for this page only (empty when nothing)."""
    from app.web.guard import session_cookie

    cookie = session_cookie(request)
    runtime = getattr(request.state, "runtime", None)
    if not cookie or runtime is None:
        return {}
    try:
        sealed = await runtime.jobs.redis.getdel(_flash_key(cookie))
        if sealed is None:
            return {}
        flash: dict[str, Any] = json.loads(runtime.vault.decrypt(sealed.decode(), "flash"))
    except (RedisError, VaultError, ValueError):
        return {}
    return flash


def bridged(scope: Scope) -> bool:
    """A browser's form: a form POST to the API without a token (scripts keep plain JSON)."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path: str = scope["path"]
    headers = Headers(scope=scope)
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_TYPE or "authorization" in headers:
        return False
    return path.startswith("/api/") or path in ("/login", "/logout")


class FormBridge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not bridged(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        from app.web.guard import session_cookie

        cookie = session_cookie(request)
        referer = request.headers.get("referer", "")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        here = referer[len(own) :] if referer.startswith(own + "/") else None
        pairs = parse_qsl((await _read(receive)).decode("utf-8", "replace"), keep_blank_values=True)
        try:
            control, data = convert(pairs)
        except FormError as exc:  # nothing was asked of the API: back to the form, as typed
            typed = {k.partition(":")[0]: v for k, v in pairs if not k.startswith("_")}
            values = {k: v for k, v in typed.items() if k not in PRIVATE_FIELDS}
            back = local_path(dict(pairs).get("_back") or here, "/")
            flash: dict[str, Any] = {"error": str(exc), "field": exc.field, "values": values}
            await put_flash(scope, cookie, flash)
            await _redirect(send, back)
            return
        back = local_path(control.get("_back") or here, "/")
        method = control.get("_method", "POST").upper()
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            method = "POST"
        status, headers, answer = await self._call(scope, method, control.get("_csrf"), data)
        cookies = [(k, v) for k, v in headers if k == b"set-cookie"]
        if scope["path"] == "/login":
            await self._after_login(send, status, answer, control, cookies)
            return
        if status == 401:
            await _redirect(send, f"/login?next={quote(back, safe='')}")
            return
        if status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            values = {k: v for k, v in data.items() if k not in PRIVATE_FIELDS}
            flash = {"error": error.get("message", f"the server answered {status}"),
                     "field": error.get("field"), "values": values}  # fmt: skip
            await put_flash(scope, cookie, flash)
            await _redirect(send, back)
            return
        shown = {k: answer[k] for k in SHOWN_ONCE if isinstance(answer, dict) and k in answer}
        notice = control.get("_done")
        if shown or notice:
            await put_flash(scope, cookie, {"shown_once": shown, "notice": notice})
        target = control.get("_next") or back
        if isinstance(answer, dict) and isinstance(answer.get("id"), str):
            target = target.replace("{id}", quote(answer["id"], safe=""))
        await _redirect(send, local_path(target, back), cookies)

    async def _call(
        self, scope: Scope, method: str, csrf: str | None, data: dict[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        """Run the JSON request through the app; its status, headers and decoded answer."""
        payload = json.dumps(data).encode()
        replaced = (b"content-type", b"content-length", b"x-csrf-token", b"accept")
        keep = [(k, v) for k, v in scope["headers"] if k not in replaced]
        headers = [*keep, (b"content-type", b"application/json"),
                   (b"content-length", str(len(payload)).encode()),
                   (b"accept", b"application/json")]  # fmt: skip
        if csrf:
            headers.append((b"x-csrf-token", csrf.encode()))
        # `via_form` (not a header, which anyone could send): the API records a page's trigger.
        inner = {**scope, "method": method, "headers": headers,
                 "state": {**scope.get("state", {}), "via_form": True}}  # fmt: skip
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        status, answer_headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, answer_headers
            if message["type"] == "http.response.start":
                status, answer_headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, capture)
        try:
            answer = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            answer = None
        return status, answer_headers, answer

    async def _after_login(
        self,
        send: Send,
        status: int,
        answer: Any,
        control: dict[str, str],
        cookies: list[tuple[bytes, bytes]],
    ) -> None:
        target = local_path(control.get("_next"), "/")
        if status < 400:
            await _redirect(send, target, cookies)
            return
        code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
        code = code if code in LOGIN_ERRORS else "invalid"
        await _redirect(send, f"/login?error={code}&next={quote(target, safe='')}")


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _redirect(
    send: Send, location: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0"), *(extra or [])]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


# Every answer: pages run only Capstan's own scripts and styles (no inline script, no eval),
# cannot be framed, and send no referrer to other sites.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]  # fmt: skip


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
