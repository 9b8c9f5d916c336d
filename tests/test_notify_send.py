"""Notifications going out, against real servers on 127.0.0.1: an HTTP sink standing in for
Slack, Discord, Teams, Mattermost, Telegram and webhooks; aiosmtpd for email (plain, STARTTLS,
SMTPS, AUTH); Apprise's json:// scheme. And the SSRF guard, which refuses all of those
addresses unless private ones are allowed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.domain.notify import Event, EventKind, ProviderKind, colour
from app.notify import guard, messages
from app.notify.send import Outcome, pinned_request, send

HOSTILE = "Deploy <script>alert(1)</script> & @everyone *bold* `tick` [x](http://evil)"
LINES = ["step 1 ok", "```", "error: <boom> & done"]


def event(kind: EventKind = EventKind.FAILED, title: str = HOSTILE) -> Event:
    return Event(
        kind=kind,
        key="deployment:1:end",
        title=title,
        project="shop",
        url="http://capstan.example/deployments/42",
        facts={"Commit": "abc123 fix <b>bold</b> @here", "Stage": "build"},
        lines=LINES,
    )


# An HTTP sink


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """A minimal HTTP/1.1 server: records each request, answers `status` (or nothing)."""

    port: int = 0
    status: int = 200
    reply: bytes = b"ok"
    extra_headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    requests: list[Request] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            first, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = first.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Request(method, path, headers, body))
            if self.hang:
                await asyncio.Event().wait()
            reply = b"" if self.status == 204 else self.reply.replace(b"{path}", path.encode())
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.extra_headers.items())
            writer.write(
                f"HTTP/1.1 {self.status} Whatever\r\nContent-Length: {len(reply)}\r\n"
                f"Content-Type: text/plain\r\n{extra}Connection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    sink = Sink()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await sink.handle(reader, writer)
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def deliver(
    kind: ProviderKind,
    provider: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
    ev: Event | None = None,
    timeout: float = 5,
    allow_private: bool = True,
) -> Outcome:
    return await send(kind, provider or {}, channel or {}, ev or event(), timeout=timeout,
                      allow_private=allow_private, delivery_id="dlv-1")  # fmt: skip


# Native payloads


async def test_slack_gets_an_attachment_coloured_by_outcome_linking_the_deployment(
    sink: Sink,
) -> None:
    outcome = await deliver(ProviderKind.SLACK, channel={"url": f"{sink.base}/services/T/B/x"})
    assert outcome == Outcome(200, False, "HTTP 200") and outcome.sent
    req = sink.requests[0]
    assert (req.method, req.path) == ("POST", "/services/T/B/x")
    assert req.headers["content-type"] == "application/json"
    body = req.json()
    assert set(body) == {"text", "attachments"}
    [att] = body["attachments"]
    assert att["color"] == colour(EventKind.FAILED) == "#e01e5a"
    assert att["title_link"] == "http://capstan.example/deployments/42"
    assert "http://capstan.example/deployments/42" in body["text"]
    assert att["mrkdwn_in"] == ["text"]
    assert att["fields"][0] == {
        "title": "Commit",
        "value": "abc123 fix &lt;b&gt;bold&lt;/b&gt; @here",
        "short": True,
    }
    assert att["text"].startswith("```\n") and att["text"].endswith("\n```")
    assert "error: &lt;boom&gt; &amp; done" in att["text"]
    assert "\n```\n" not in att["text"].removeprefix("```\n").removesuffix("\n```")
    for text in (body["text"], att["title"], att["fallback"]):
        assert "<script>" not in text and "&lt;script&gt;" in text and "&amp; @" in text


async def test_colour_follows_the_outcome(sink: Sink) -> None:
    channel = {"url": f"{sink.base}/hook"}
    for kind in (EventKind.SUCCEEDED, EventKind.CANCELLED, EventKind.STARTED):
        await deliver(ProviderKind.SLACK, channel=channel, ev=event(kind))
        await deliver(ProviderKind.DISCORD, channel=channel, ev=event(kind))
        await deliver(ProviderKind.TEAMS, channel=channel, ev=event(kind))
    colours = [r.json() for r in sink.requests]
    assert [c["attachments"][0]["color"] for c in colours[0::3]] == [
        "#2eb67d", "#8d8d8d", "#1d4ed8",
    ]  # fmt: skip
    assert [c["embeds"][0]["color"] for c in colours[1::3]] == [0x2EB67D, 0x8D8D8D, 0x1D4ED8]
    assert [c["themeColor"] for c in colours[2::3]] == ["2eb67d", "8d8d8d", "1d4ed8"]


async def test_discord_gets_an_embed_that_pings_nobody(sink: Sink) -> None:
    outcome = await deliver(ProviderKind.DISCORD, channel={"url": f"{sink.base}/api/webhooks/1/t"})
    assert outcome.sent
    body = sink.requests[0].json()
    assert body["content"] == "" and body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["url"] == "http://capstan.example/deployments/42"
    assert embed["color"] == 0xE01E5A
    assert "@everyone" not in embed["title"] and "@\u200beveryone" in embed["title"]
    assert r"\*bold\*" in embed["title"] and r"\`tick\`" in embed["title"]
    assert r"\[x\]\(http://evil\)" in embed["title"]
    assert embed["fields"][1] == {"name": "Stage", "value": "build", "inline": True}
    assert "@here" not in embed["fields"][0]["value"]
    assert embed["description"].startswith("```\n") and embed["description"].count("```") == 2
    assert embed["footer"] == {"text": "shop"}


async def test_teams_gets_a_message_card_with_facts_and_a_link(sink: Sink) -> None:
    assert (await deliver(ProviderKind.TEAMS, channel={"url": f"{sink.base}/webhookb2/x"})).sent
    card = sink.requests[0].json()
    assert card["@type"] == "MessageCard" and card["themeColor"] == "e01e5a"
    assert card["summary"] == HOSTILE
    assert "&lt;script&gt;" in card["title"] and "<script>" not in card["title"]
    [section] = card["sections"]
    assert [f["name"] for f in section["facts"]] == ["Commit", "Stage"]
    assert "&lt;b&gt;" in section["facts"][0]["value"]
    assert "&lt;boom&gt;" in section["text"]
    [action] = card["potentialAction"]
    assert action["@type"] == "OpenUri"
    assert action["targets"] == [{"os": "default", "uri": "http://capstan.example/deployments/42"}]


async def test_mattermost_gets_slack_compatible_escaped_markdown(sink: Sink) -> None:
    assert (await deliver(ProviderKind.MATTERMOST, channel={"url": f"{sink.base}/hooks/k"})).sent
    body = sink.requests[0].json()
    assert body["text"].endswith("](http://capstan.example/deployments/42)")
    assert r"\<script\>" in body["text"] and r"\*bold\*" in body["text"]
    assert "@everyone" not in body["text"]
    [att] = body["attachments"]
    assert att["color"] == "#e01e5a"
    assert att["title_link"] == "http://capstan.example/deployments/42"
    assert att["fields"][0]["title"] == "Commit"
    assert r"\<b\>" in att["fields"][0]["value"] and "@here" not in att["fields"][0]["value"]


async def test_telegram_posts_html_to_its_bot_path(sink: Sink) -> None:
    provider = {"api_url": sink.base, "bot_token": "123456:SECRET-token"}
    outcome = await deliver(ProviderKind.TELEGRAM, provider, {"chat_id": "-1001"})
    assert outcome.sent
    req = sink.requests[0]
    assert req.path == "/bot123456:SECRET-token/sendMessage"
    body = req.json()
    assert body["chat_id"] == "-1001"
    assert body["parse_mode"] == "HTML" and body["disable_web_page_preview"] is True
    text = body["text"]
    assert text.startswith("<b>Deploy &lt;script&gt;alert(1)&lt;/script&gt; &amp; @everyone")
    assert '<a href="http://capstan.example/deployments/42">' in text
    assert "<b>Commit</b>: abc123 fix &lt;b&gt;bold&lt;/b&gt;" in text
    assert "<pre>" in text and "&lt;boom&gt;" in text


async def test_telegram_token_never_reaches_the_reason(sink: Sink) -> None:
    sink.status, sink.reply = 404, b'{"ok":false,"description":"Not Found: {path}"}'
    provider = {"api_url": sink.base, "bot_token": "123456:SECRET-token"}
    outcome = await deliver(ProviderKind.TELEGRAM, provider, {"chat_id": 1})
    assert (outcome.code, outcome.retry) == (404, False)
    assert "Not Found" in outcome.reason and "SECRET" not in outcome.reason


async def test_a_webhook_url_echoed_back_is_blanked_from_the_reason(sink: Sink) -> None:
    sink.status, sink.reply = 403, b"invalid token for {path}"
    url = f"{sink.base}/services/T0/B0/sekrit-token-value"
    outcome = await deliver(ProviderKind.SLACK, channel={"url": url})
    assert outcome.reason == "HTTP 403: invalid token for ***"


async def test_generic_webhook_is_signed_json(sink: Sink) -> None:
    secret = "It's a Secret to Everybody"
    ev = event(EventKind.SUCCEEDED)
    outcome = await deliver(ProviderKind.WEBHOOK, {"signing_secret": secret},
                            {"url": f"{sink.base}/in"}, ev)  # fmt: skip
    assert outcome.sent
    req = sink.requests[0]
    expected = hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-capstan-signature"] == f"sha256={expected}"
    assert req.headers["x-capstan-event"] == "succeeded"
    assert req.headers["x-capstan-delivery"] == "dlv-1"
    body = req.json()
    assert set(body) == {"event", "title", "project", "url", "facts", "lines", "delivery",
                         "sent_at"}  # fmt: skip
    assert (body["event"], body["title"], body["project"]) == ("succeeded", HOSTILE, "shop")
    assert body["url"] == ev.url and body["facts"] == ev.facts and body["lines"] == LINES
    assert body["delivery"] == "dlv-1"
    sent_at = dt.datetime.fromisoformat(body["sent_at"])
    assert abs((dt.datetime.now(dt.UTC) - sent_at).total_seconds()) < 60


async def test_the_connection_goes_to_the_checked_address_under_the_urls_name(
    sink: Sink,
) -> None:
    outcome = await deliver(ProviderKind.SLACK, channel={"url": f"http://localhost:{sink.port}/h"})
    assert outcome.sent
    assert sink.requests[0].headers["host"] == f"localhost:{sink.port}"
    request = pinned_request("https://hooks.example:8443/x?y=1",
                             ipaddress.ip_address("93.184.215.14"), b"{}", {})  # fmt: skip
    assert str(request.url) == "https://93.184.215.14:8443/x?y=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"


def test_long_titles_facts_and_logs_fit_each_services_limits() -> None:
    long = Event(kind=EventKind.FAILED, key="k", title="t" * 5000, url="http://c/d/1",
                 facts={"Commit": "m" * 5000}, lines=[f"line {i} " + "x" * 300 for i in range(99)]
                 + ["the last line"])  # fmt: skip
    [embed] = messages.discord(long)["embeds"]
    assert len(embed["title"]) <= 256 and len(embed["fields"][0]["value"]) <= 1024
    assert len(embed["description"]) <= 4096 and embed["description"].endswith("last line\n```")
    text = messages.telegram(long, 1)["text"]
    assert len(text) <= 4096 and "the last line</pre>" in text
    one_huge_line = messages.slack(Event(kind=EventKind.FAILED, key="k", title="t",
                                         lines=["y" * 9000 + " end"]))  # fmt: skip
    assert one_huge_line["attachments"][0]["text"].endswith("y end\n```")


# Outcomes


@pytest.mark.parametrize(
    ("status", "retry"),
    [(200, False), (204, False), (500, True), (503, True), (429, True), (408, True),
     (404, False), (400, False), (410, False)],
)  # fmt: skip
async def test_http_status_decides_whether_to_retry(sink: Sink, status: int, retry: bool) -> None:
    sink.status = status
    outcome = await deliver(ProviderKind.DISCORD, channel={"url": f"{sink.base}/h"})
    assert (outcome.code, outcome.retry, outcome.sent) == (status, retry, status < 300)
    assert outcome.reason.startswith(f"HTTP {status}")


async def test_a_redirect_is_not_followed_nor_retried(sink: Sink) -> None:
    sink.status, sink.extra_headers = 302, {"Location": f"{sink.base}/elsewhere"}
    outcome = await deliver(ProviderKind.SLACK, channel={"url": f"{sink.base}/h"})
    assert (outcome.code, outcome.retry, outcome.sent) == (302, False, False)
    assert "redirect" in outcome.reason
    assert [r.path for r in sink.requests] == ["/h"]


async def test_a_service_that_never_answers_times_out_and_is_retried(sink: Sink) -> None:
    sink.hang = True
    started = time.monotonic()
    outcome = await deliver(ProviderKind.SLACK, channel={"url": f"{sink.base}/h"}, timeout=0.5)
    assert time.monotonic() - started < 2
    assert outcome == Outcome(None, True, "no answer within 0.5 s")


async def test_connection_refused_is_retried() -> None:
    url = f"http://127.0.0.1:{free_port()}/h"
    outcome = await deliver(ProviderKind.WEBHOOK, {"signing_secret": "s"}, {"url": url})
    assert (outcome.code, outcome.retry) == (None, True)
    assert "refused" in outcome.reason


async def test_a_name_that_does_not_resolve_is_retried() -> None:
    outcome = await deliver(ProviderKind.SLACK, channel={"url": "http://nowhere.invalid/h"})
    assert outcome == Outcome(None, True, "nowhere.invalid does not resolve")


async def test_a_private_destination_is_refused_before_any_connection(sink: Sink) -> None:
    outcome = await deliver(ProviderKind.SLACK, channel={"url": f"{sink.base}/h"},
                            allow_private=False)  # fmt: skip
    assert outcome == Outcome(
        None, False, "refused: 127.0.0.1 is a loopback address; only public ones are allowed"
    )
    assert sink.requests == []


async def test_a_missing_setting_is_an_outcome_not_an_exception() -> None:
    outcome = await deliver(ProviderKind.TELEGRAM, {}, {"chat_id": 1})
    assert outcome == Outcome(None, False, "misconfigured: 'bot_token' is missing")


# Email


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for the name localhost only (not for 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


class Mailbox:
    """aiosmtpd's handler: keeps each message; refuses recipients named `refuse-<code>@`."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.logins: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("refuse-"):
            code = address.removeprefix("refuse-").partition("@")[0]
            return f"{code} not here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ci", b"pw")
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself


@contextlib.contextmanager
def smtp_server(auth: bool = False, **kwargs: Any) -> Iterator[tuple[Mailbox, int]]:
    """aiosmtpd on a free loopback port; with `auth`, it takes login ci, password pw."""
    mailbox = Mailbox()
    if auth:
        kwargs.update(authenticator=mailbox.authenticate, auth_required=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(),
                            server_hostname="mail.test", **kwargs)  # fmt: skip
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


def mail_provider(port: int, **settings: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none",
            "sender": "Capstan <capstan@ci.example>", **settings}  # fmt: skip


TO = {"to": ["dev@example.com", "ops@example.com"]}


async def test_email_is_delivered_with_headers_and_both_parts_escaped() -> None:
    with smtp_server() as (mailbox, port):
        outcome = await deliver(ProviderKind.EMAIL, mail_provider(port), TO)
        assert outcome == Outcome(250, False, "accepted") and outcome.sent
        [(envelope, message)] = mailbox.messages
    assert envelope.mail_from == "capstan@ci.example"
    assert envelope.rcpt_tos == ["dev@example.com", "ops@example.com"]
    assert message["From"] == "Capstan <capstan@ci.example>"
    assert message["To"] == "dev@example.com, ops@example.com"
    assert message["Subject"].strip() == HOSTILE  # folded onto its own line: too long
    assert message["X-Capstan-Delivery"] == "dlv-1"
    assert message["Message-ID"].endswith("@ci.example>")
    date = email.utils.parsedate_to_datetime(message["Date"])
    assert abs((dt.datetime.now(dt.UTC) - date).total_seconds()) < 60
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and rich is not None
    text, markup = plain.get_content(), rich.get_content()
    assert HOSTILE in text and "http://capstan.example/deployments/42" in text
    assert "error: <boom> & done" in text
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in markup
    assert '<a href="http://capstan.example/deployments/42">' in markup
    assert "&lt;boom&gt;" in markup and "#e01e5a" in markup


async def test_email_over_starttls_trusting_a_self_signed_certificate(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    ca_file, context = certificate
    with smtp_server(tls_context=context, require_starttls=True) as (mailbox, port):
        provider = mail_provider(port, host="localhost", security="starttls", ca_file=ca_file)
        assert (await deliver(ProviderKind.EMAIL, provider, TO)).sent
        untrusted = await deliver(ProviderKind.EMAIL, {**provider, "ca_file": None}, TO)
        plain = await deliver(ProviderKind.EMAIL, {**provider, "security": "none"}, TO)
        assert len(mailbox.messages) == 1
    assert (untrusted.code, untrusted.retry) == (None, False)
    assert untrusted.reason.startswith("TLS certificate refused")
    assert (plain.code, plain.retry) == (530, False)


async def test_email_over_smtps_checks_the_certificate_against_the_host_name(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    ca_file, context = certificate
    with smtp_server(ssl_context=context) as (mailbox, port):
        provider = mail_provider(port, host="localhost", security="tls", ca_file=str(ca_file))
        assert (await deliver(ProviderKind.EMAIL, provider, TO)).sent
        by_address = await deliver(ProviderKind.EMAIL, {**provider, "host": "127.0.0.1"}, TO)
        assert len(mailbox.messages) == 1
    assert (by_address.code, by_address.retry) == (None, False)
    assert "certificate refused" in by_address.reason and "127.0.0.1" in by_address.reason


async def test_email_logs_in_when_a_username_is_set(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    ca_file, context = certificate
    with smtp_server(auth=True, tls_context=context, auth_require_tls=True) as (mailbox, port):
        provider = mail_provider(port, host="localhost", security="starttls", ca_file=ca_file,
                                 username="ci")  # fmt: skip
        wrong = await deliver(ProviderKind.EMAIL, {**provider, "password": "nope"}, TO)
        anonymous = await deliver(ProviderKind.EMAIL, {**provider, "username": ""}, TO)
        right = await deliver(ProviderKind.EMAIL, {**provider, "password": "pw"}, TO)
        assert len(mailbox.messages) == 1 and mailbox.logins
    assert (wrong.code, wrong.retry) == (535, False) and "nope" not in wrong.reason
    assert (anonymous.code, anonymous.retry) == (530, False)
    assert right.sent


async def test_refused_recipients_retry_only_when_the_refusal_is_temporary() -> None:
    with smtp_server() as (mailbox, port):
        gone = await deliver(ProviderKind.EMAIL, mail_provider(port), {"to": ["refuse-550@x"]})
        later = await deliver(ProviderKind.EMAIL, mail_provider(port), {"to": ["refuse-450@x"]})
        some = await deliver(ProviderKind.EMAIL, mail_provider(port),
                             {"to": ["refuse-550@x", "dev@example.com"]})  # fmt: skip
        assert len(mailbox.messages) == 1
    assert (gone.code, gone.retry) == (550, False)
    assert (later.code, later.retry) == (450, True)
    assert some.sent and "1 refused" in some.reason


async def test_an_smtp_server_that_is_down_is_retried() -> None:
    outcome = await deliver(ProviderKind.EMAIL, mail_provider(free_port()), TO)
    assert (outcome.code, outcome.retry) == (None, True) and "refused" in outcome.reason


async def test_an_smtp_server_that_never_greets_times_out_and_is_retried(sink: Sink) -> None:
    started = time.monotonic()
    outcome = await deliver(ProviderKind.EMAIL, mail_provider(sink.port), TO, timeout=0.5)
    assert time.monotonic() - started < 2
    assert outcome == Outcome(None, True, "no answer within 0.5 s")


async def test_an_email_header_with_a_newline_is_refused_not_injected() -> None:
    with smtp_server() as (mailbox, port):
        provider = mail_provider(port, sender="a@b.example\nBcc: victim@example.com")
        outcome = await deliver(ProviderKind.EMAIL, provider, TO)
        assert mailbox.messages == []
    assert outcome == Outcome(None, False, "misconfigured: ValueError")


# Apprise


async def test_apprise_json_reaches_the_sink(sink: Sink) -> None:
    url = f"json://127.0.0.1:{sink.port}/apprise/in"
    outcome = await deliver(ProviderKind.APPRISE, channel={"url": url})
    assert outcome.sent
    req = sink.requests[0]
    assert (req.method, req.path) == ("POST", "/apprise/in")
    body = req.json()
    assert body["title"] == HOSTILE and body["type"] == "failure"
    assert "http://capstan.example/deployments/42" in body["message"]
    assert "Commit: abc123" in body["message"]


async def test_apprise_failure_is_retried(sink: Sink) -> None:
    sink.status = 500
    outcome = await deliver(ProviderKind.APPRISE, channel={"url": f"json://{sink.base[7:]}/x"})
    assert outcome == Outcome(None, True, "apprise could not deliver")


async def test_apprise_hosts_are_guarded_but_its_tokens_are_not(sink: Sink) -> None:
    url = f"json://127.0.0.1:{sink.port}/x"
    outcome = await deliver(ProviderKind.APPRISE, channel={"url": url}, allow_private=False)
    assert (outcome.code, outcome.retry) == (None, False) and "loopback" in outcome.reason
    assert sink.requests == []
    with pytest.raises(guard.Refused, match="private"):
        await guard.check_apprise("mailto://u:p@93.184.215.14?smtp=10.0.0.1", False)
    await guard.check_apprise("tgram://2130706433:AAHabc/12345", False)  # the host is a token
    with pytest.raises(guard.Refused, match="understands"):
        await guard.check_apprise("nonsense://x", False)


# The SSRF guard

PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
    "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "240.0.0.1", "[::1]",
    "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]",
    "[::]", "[ff02::1]", "localhost",
]  # fmt: skip


@pytest.mark.parametrize("host", PRIVATE)
async def test_private_addresses_are_refused_unless_allowed(host: str) -> None:
    with pytest.raises(guard.Refused, match="only public ones are allowed"):
        await guard.check_url(f"http://{host}:8080/hook", allow_private=False)
    await guard.check_url(f"https://{host}/hook", allow_private=True)
    with pytest.raises(guard.Refused):
        await guard.check_host(host.strip("[]"), 25, allow_private=False)


NOT_HTTP = ["ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://a/", "93.184.215.14/x",
            "http:///nohost", "http://h:99999/"]  # fmt: skip


@pytest.mark.parametrize("url", NOT_HTTP)
async def test_only_http_urls_with_a_host_pass(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(guard.Refused):
            await guard.check_url(url, allow_private)


async def test_a_public_address_passes_without_a_connection() -> None:
    await guard.check_url("https://93.184.215.14/hook", allow_private=False)
    await guard.check_url("http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8080/", False)
    await guard.check_host("93.184.215.14", 587, allow_private=False)


async def test_a_name_resolving_to_a_private_address_says_which() -> None:
    with pytest.raises(guard.Refused) as refused:
        await guard.check_url("http://localhost/", allow_private=False)
    assert "localhost (" in str(refused.value) and "loopback" in str(refused.value)
