"""Send one notification and say what became of it.

`send()` never raises for a service's failure: every failure is an `Outcome`, with `retry`
telling whether trying again could help (5xx, 408, 429, timeouts, a refused or reset
connection, a name that does not resolve) and a short `reason` that never holds a secret
(a webhook URL is its token, so reasons name neither URLs nor passwords, and any secret value
of the channel or provider that still slips into one is blanked). Every destination passes
the SSRF guard just before the connection, which is made to the address the guard checked.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import apprise
import httpx

from app.domain.notify import FIELDS, Event, EventKind, ProviderKind
from app.notify import guard, messages

TELEGRAM_API = "https://api.telegram.org"
SMTP_PORTS = {"tls": 465, "starttls": 587, "none": 25}
USER_AGENT = "Capstan notifications"
APPRISE_TYPES = {
    EventKind.SUCCEEDED: apprise.NotifyType.SUCCESS,
    EventKind.RECOVERED: apprise.NotifyType.SUCCESS,
    EventKind.FAILED: apprise.NotifyType.FAILURE,
    EventKind.OUTAGE: apprise.NotifyType.FAILURE,
    EventKind.DELIVERY_REFUSED: apprise.NotifyType.FAILURE,
    EventKind.CANCELLED: apprise.NotifyType.WARNING,
    EventKind.ROLLED_BACK: apprise.NotifyType.WARNING,
    EventKind.AWAITING_APPROVAL: apprise.NotifyType.WARNING,
}
NATIVE_JSON = {
    ProviderKind.SLACK: messages.slack,
    ProviderKind.DISCORD: messages.discord,
    ProviderKind.TEAMS: messages.teams,
    ProviderKind.MATTERMOST: messages.mattermost,
}


@dataclass(frozen=True)
class Outcome:
    code: int | None  # the HTTP status (or SMTP reply code) the service answered
    retry: bool  # worth trying again
    reason: str  # short, human, never a secret

    @property
    def sent(self) -> bool:
        return self.code is not None and 200 <= self.code < 300 and not self.retry


def _retry_status(code: int) -> bool:
    return code >= 500 or code in (408, 429)


async def send(
    kind: ProviderKind,
    provider: dict[str, Any],
    channel: dict[str, Any],
    event: Event,
    *,
    timeout: float,
    allow_private: bool,
    delivery_id: str,
) -> Outcome:
    """Deliver `event` through one channel of a provider of `kind` (settings and decrypted
    secrets merged in `provider` and `channel`)."""
    kind = ProviderKind(kind)
    try:
        outcome = await _dispatch(kind, provider, channel, event, timeout, allow_private,
                                  delivery_id)  # fmt: skip
    except guard.Unresolved as e:
        outcome = Outcome(None, True, str(e))
    except guard.Refused as e:
        outcome = Outcome(None, False, f"refused: {e}")
    except KeyError as e:
        outcome = Outcome(None, False, f"misconfigured: {e} is missing")
    except (TypeError, ValueError, httpx.InvalidURL) as e:
        outcome = Outcome(None, False, f"misconfigured: {type(e).__name__}")
    return _scrubbed(outcome, kind, provider, channel)


async def _dispatch(
    kind: ProviderKind,
    provider: dict[str, Any],
    channel: dict[str, Any],
    event: Event,
    timeout: float,
    allow_private: bool,
    delivery_id: str,
) -> Outcome:
    if kind in NATIVE_JSON:
        body = NATIVE_JSON[kind](event)
        return await post(channel["url"], json_body(body), {}, timeout, allow_private)
    if kind is ProviderKind.TELEGRAM:
        api = (provider.get("api_url") or TELEGRAM_API).rstrip("/")
        url = f"{api}/bot{provider['bot_token']}/sendMessage"
        body = messages.telegram(event, channel["chat_id"])
        return await post(url, json_body(body), {}, timeout, allow_private)
    if kind is ProviderKind.WEBHOOK:
        raw = messages.webhook(event, delivery_id, datetime.now(UTC))
        headers = {
            "X-Capstan-Signature": signature(raw, provider["signing_secret"]),
            "X-Capstan-Event": event.kind.value,
            "X-Capstan-Delivery": delivery_id,
        }
        return await post(channel["url"], raw, headers, timeout, allow_private)
    if kind is ProviderKind.EMAIL:
        return await send_email(provider, channel, event, timeout, allow_private, delivery_id)
    if kind is ProviderKind.APPRISE:
        return await send_apprise(channel["url"], event, timeout, allow_private)
    raise ValueError(kind)


def json_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, as GitHub signs its webhooks."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _scrubbed(
    outcome: Outcome, kind: ProviderKind, provider: dict[str, Any], channel: dict[str, Any]
) -> Outcome:
    """`outcome` with any secret of the provider or channel blanked from its reason: a whole
    value, and a secret URL's path and query (the token part, which a service may echo)."""
    fields = FIELDS[kind]
    values = [provider.get(f) for f in fields.provider_secret]
    values += [channel.get(f) for f in fields.channel_secret]
    secrets: list[str] = []
    for value in values:
        if isinstance(value, str) and value:
            parts = urlsplit(value)
            secrets += [value, parts.path, parts.query] if parts.netloc else [value]
    reason = outcome.reason
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 6 and secret in reason:
            reason = reason.replace(secret, "***")
    return outcome if reason == outcome.reason else Outcome(outcome.code, outcome.retry, reason)


# HTTP


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's own TLS context (certifi's roots), made once: loading them costs ~30 ms."""
    return httpx.create_ssl_context()


def pinned_request(
    url: str, address: guard.Address, body: bytes, headers: dict[str, str]
) -> httpx.Request:
    """A POST of `body` to `url`, made to the checked `address`: the Host header and TLS's
    server name (SNI and the certificate's check) stay the URL's own."""
    target = httpx.URL(url)
    headers = {
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    server_name = target.raw_host.decode("ascii")
    extensions = {"sni_hostname": server_name} if target.scheme == "https" else {}
    return httpx.Request("POST", target.copy_with(host=str(address)), content=body,
                         headers=headers, extensions=extensions)  # fmt: skip


async def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool
) -> Outcome:
    host, port = guard.target(url)
    address = (await guard.addresses(host, port, allow_private))[0]
    request = pinned_request(url, address, body, headers)
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=_tls()) as http,
        ):
            response = await http.send(request, stream=True)
            excerpt = await _excerpt(response)
    except (httpx.TimeoutException, TimeoutError):
        return Outcome(None, True, f"no answer within {timeout:g} s")
    except httpx.ConnectError as e:
        return Outcome(None, True, f"could not connect to {host}: {_os_reason(e)}")
    except httpx.TransportError as e:
        return Outcome(None, True, f"connection to {host} failed: {type(e).__name__}")
    return _http_outcome(response.status_code, excerpt)


def _os_reason(error: BaseException) -> str:
    """What the system said ("connection refused"), found down the chain of causes."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return "connection failed"


def _http_outcome(code: int, excerpt: str) -> Outcome:
    if 200 <= code < 300:
        return Outcome(code, False, f"HTTP {code}")
    if 300 <= code < 400:
        return Outcome(code, False, f"HTTP {code}: a redirect (not followed)")
    return Outcome(code, _retry_status(code), f"HTTP {code}{excerpt}")


async def _excerpt(response: httpx.Response) -> str:
    """The start of an error's body, its first line (services explain themselves there);
    a 2xx's body is not read, and no body is read past 4 KiB."""
    if response.is_success:
        await response.aclose()
        return ""
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= 4096:
            break
    await response.aclose()
    lines = data.decode(errors="replace").strip().splitlines()
    text = "".join(c for c in lines[0] if c.isprintable())[:120] if lines else ""
    return f": {text}" if text else ""


# Email


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the address the guard checked; TLS still checks the host's name."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's own hook (SMTP_SSL's wraps it in TLS for `_host`); typeshed omits it
        self._host = host
        return super()._get_socket(self._address, port, timeout)  # type: ignore[misc]


class _PinnedSMTPSSL(_PinnedSMTP, smtplib.SMTP_SSL):
    pass


def _tls_context(provider: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=provider.get("ca_file") or None)


async def send_email(
    provider: dict[str, Any],
    channel: dict[str, Any],
    event: Event,
    timeout: float,
    allow_private: bool,
    delivery_id: str,
) -> Outcome:
    to = channel["to"]
    to = [a.strip() for a in to.split(",")] if isinstance(to, str) else [str(a) for a in to]
    if not any(to):
        return Outcome(None, False, "no recipients")
    security = provider.get("security") or "starttls"
    if security not in SMTP_PORTS:
        return Outcome(None, False, f"unknown email security {security!r}")
    host = str(provider["host"])
    port = int(provider.get("port") or SMTP_PORTS[security])
    message = messages.email(event, provider["sender"], to, delivery_id, datetime.now(UTC))
    address = (await guard.addresses(host, port, allow_private))[0]
    try:
        return await asyncio.to_thread(
            _smtp_send, provider, host, port, str(address), security, message, timeout
        )
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        retry = bool(codes) and all(400 <= c < 500 for c in codes)
        return Outcome(codes[0] if codes else None, retry, f"recipients refused: {codes}")
    except smtplib.SMTPResponseException as e:
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else ""
        what = type(e).__name__.removeprefix("SMTP")
        return Outcome(e.smtp_code, 400 <= e.smtp_code < 500,
                       f"SMTP {e.smtp_code} ({what}): {text[:120]}")  # fmt: skip
    except smtplib.SMTPServerDisconnected as e:
        if isinstance(e.__context__, TimeoutError):  # smtplib's word for a silent server
            return Outcome(None, True, f"no answer within {timeout:g} s")
        return Outcome(None, True, "the SMTP server closed the connection")
    except smtplib.SMTPNotSupportedError as e:
        return Outcome(None, False, f"the SMTP server does not support it: {e}")
    except smtplib.SMTPException as e:
        return Outcome(None, False, f"SMTP: {type(e).__name__}")
    except TimeoutError:
        return Outcome(None, True, f"no answer within {timeout:g} s")
    except ssl.SSLCertVerificationError as e:
        return Outcome(None, False, f"TLS certificate refused: {e.verify_message}")
    except ssl.SSLError as e:
        return Outcome(None, False, f"TLS failed: {e.reason or type(e).__name__}")
    except OSError as e:
        return Outcome(None, True, f"could not connect to {host}: {_os_reason(e)}")


def _smtp_send(
    provider: dict[str, Any],
    host: str,
    port: int,
    address: str,
    security: str,
    message: EmailMessage,
    timeout: float,
) -> Outcome:
    context = _tls_context(provider) if security != "none" else None
    if security == "tls":
        smtp: smtplib.SMTP = _PinnedSMTPSSL(address, timeout=timeout, context=context)
    else:
        smtp = _PinnedSMTP(address, timeout=timeout)
    try:
        smtp.connect(host, port)
        if security == "starttls":
            smtp.starttls(context=context)
        if provider.get("username"):
            smtp.login(str(provider["username"]), str(provider.get("password") or ""))
        refused = smtp.send_message(message)
    finally:
        _close(smtp)
    if refused:
        return Outcome(250, False, f"accepted, except for {len(refused)} refused recipient(s)")
    return Outcome(250, False, "accepted")


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT after the message was accepted; a failure here must not make it look unsent."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


# Apprise


async def send_apprise(url: str, event: Event, timeout: float, allow_private: bool) -> Outcome:
    plugin = guard.apprise_plugin(url)
    if plugin is None:
        return Outcome(None, False, "apprise does not understand this URL")
    await guard.check_apprise_plugin(plugin, allow_private)
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    notifier = apprise.Apprise()
    notifier.add(plugin)
    kind = APPRISE_TYPES.get(event.kind, apprise.NotifyType.INFO)
    body = messages.plain_text(event)
    ok = await asyncio.to_thread(notifier.notify, body=body, title=event.title, notify_type=kind)
    if not ok:
        return Outcome(None, True, "apprise could not deliver")
    return Outcome(200, False, "delivered by apprise")
