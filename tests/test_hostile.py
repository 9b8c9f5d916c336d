"""Hostile input gets a 4xx naming what is wrong, never a 5xx, never unbounded memory, and
stores nothing: each case below was a 500 (or 892 MB of RSS) once."""

from __future__ import annotations

import select
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import Capstan, RedisServer
from payloads import body_of, github_headers, github_push
from served import Served, serve

from app.models import ApiToken, Deployment, Project, Secret, User
from app.web.openapi import document
from app.web.routes import PERMISSIONS, ROUTES

APPROVAL = [{"name": "gate", "approval": True}]
MIB = 1024 * 1024


def operations_with_json_bodies() -> list[tuple[str, str]]:
    """Every (method, path) whose OpenAPI document says it reads a JSON body."""
    paths = document(ROUTES, {k: v.value for k, v in PERMISSIONS.items()})["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def concrete(path: str, deployment: str) -> str:
    return path.format(project="web", deployment=deployment, name="API_KEY", username="admin",
                       delivery=uuid.uuid4(), token=uuid.uuid4(), provider="nope",
                       channel="nope", subscription=uuid.uuid4(), target="nope",
                       host_key=1)  # fmt: skip


async def send(capstan: Capstan, method: str, path: str, body: bytes, **kw: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return await capstan.http.request(method, path, content=body, headers=headers, **kw)


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"]
    return error


async def stored(capstan: Capstan) -> dict[str, Any]:
    """What the hostile requests could have left behind."""
    return {
        "projects": [(p.name, p.on_rollback) for p in await Project.all().order_by("name")],
        "deployments": await Deployment.all().count(),
        "secrets": await Secret.all().count(),
        "tokens": await ApiToken.all().count(),
        "users": sorted(await User.all().values_list("username", flat=True)),
    }


@pytest.mark.one_database
async def test_deeply_nested_json_is_a_400_on_every_json_route(capstan: Capstan) -> None:
    await capstan.create_project(stages=APPROVAL)
    dep = await capstan.trigger()
    before = await stored(capstan)
    beyond_the_parser = b"[" * 100_000 + b"]" * 100_000  # past Python's recursion limit
    beyond_our_limit = b'{"a":' * 40 + b"1" + b"}" * 40  # parses, but nests 40 deep
    routes = operations_with_json_bodies()
    assert {("POST", "/login"), ("POST", "/hooks/github/{project}")} <= set(routes)
    assert len(routes) == 23
    for method, path in routes:
        for body in (beyond_the_parser, beyond_our_limit):
            response = await send(capstan, method, concrete(path, dep["id"]), body)
            expected = 401 if path.startswith("/hooks/") else 400  # unsigned: never parsed
            assert response.status_code == expected, (method, path, response.text)
            error_of(response)
    assert await stored(capstan) == before


UNSTORABLE = [  # (method, path, body, the field the 422 names); \ud800 is a lone surrogate
    ("POST", "/login", r'{"username": "ad\ud800min", "password": "x"}', "username"),
    ("POST", "/login", r'{"username": "admin", "password": "\udfff"}', "password"),
    ("POST", "/api/v1/projects/web/deployments", r'{"version": "v1\ud800"}', "version"),
    ("POST", "/api/v1/projects/web/deployments", r'{"version": "v1\u0000"}', "version"),
    ("PUT", "/api/v1/projects/web/secrets/API_KEY", r'{"value": "hunter22\ud800"}', "value"),
    ("PUT", "/api/v1/projects/web/secrets/API_KEY", r'{"value": "hunter22\u0000"}', "value"),
    ("PATCH", "/api/v1/projects/web", r'{"on_rollback": "echo \udc00"}', "on_rollback"),
    ("POST", "/api/v1/projects",
     r'{"name": "other", "stages": [{"name": "b", "run": "echo \ud800"}]}', "stages[0].run"),
    ("POST", "/api/v1/tokens", r'{"name": "laptop\ud800"}', "name"),
    ("POST", "/api/v1/tokens", r'{"\ud800": "a key"}', "body"),
    ("POST", "/api/v1/users",
     r'{"username": "eve", "password": "long enough\ud800", "role": "viewer"}', "password"),
]  # fmt: skip


async def test_lone_surrogates_and_nul_are_a_422_naming_the_field_and_store_nothing(
    capstan: Capstan,
) -> None:
    await capstan.create_project(stages=APPROVAL)
    before = await stored(capstan)
    for method, path, body, field in UNSTORABLE:
        response = await send(capstan, method, path, body.encode())
        assert response.status_code == 422, (path, body, response.text)
        assert error_of(response)["field"] == field, (path, body)
    assert await stored(capstan) == before


@pytest.mark.one_database
async def test_names_with_a_trailing_newline_are_refused(capstan: Capstan) -> None:
    await capstan.create_project(stages=APPROVAL)
    before = await stored(capstan)
    stages = [{"name": "build", "run": "true"}]
    cases = [
        ("POST", "/api/v1/projects", {"name": "nl\n", "stages": stages}, "name"),
        ("POST", "/api/v1/projects",
         {"name": "nl", "stages": [{"name": "build\n", "run": "true"}]}, "stages[0].name"),
        ("POST", "/api/v1/projects", {"name": "nl", "stages": stages, "branch": "main\n"},
         "branch"),
        ("POST", "/api/v1/projects/web/deployments", {"ref": "main\n"}, "ref"),
        ("POST", "/api/v1/users", {"username": "nl\n", "password": "long enough pw"}, "username"),
        ("PUT", "/api/v1/projects/web/secrets/NL%0A", {"value": "hunter22"}, "name"),
        ("POST", "/api/v1/projects/web/webhook-secret", {"secret": "s" * 20 + "\n"}, "secret"),
    ]  # fmt: skip
    for method, path, body, field in cases:
        response = await capstan.http.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert error_of(response)["field"] == field
    assert await stored(capstan) == before
    assert (await capstan.http.get("/api/v1/projects/web%0A")).status_code == 404


async def test_nul_or_overlong_text_in_a_path_or_query_is_a_4xx(capstan: Capstan) -> None:
    """Text no database column could hold is refused before any query is made of it."""
    await capstan.create_project(stages=APPROVAL)
    for method, path, status in [
        ("GET", "/api/v1/projects/%00", 404),
        ("GET", "/api/v1/projects/web%00/deployments", 404),
        ("GET", f"/api/v1/projects/{'a' * 64}", 404),
        ("POST", f"/hooks/github/{'a' * 64}", 404),
        ("PATCH", "/api/v1/users/ad%00min", 404),
        ("DELETE", f"/api/v1/users/{'a' * 65}", 404),
        ("POST", "/hooks/github/%00", 404),
        ("GET", "/api/v1/audit?actor=%00", 422),
        ("GET", "/api/v1/audit?project=web%00", 422),
        ("GET", f"/api/v1/audit?project={'a' * 64}", 422),
        ("GET", f"/api/v1/audit?actor={'a' * 129}", 422),
        ("GET", f"/api/v1/audit?action={'a' * 65}", 422),
    ]:
        response = await capstan.http.request(method, path, json={})
        assert response.status_code == status, (path, response.text)
        error_of(response)


async def test_log_cursors_that_are_no_integer_or_too_large_are_a_400(capstan: Capstan) -> None:
    await capstan.create_project(stages=APPROVAL)
    dep = await capstan.trigger()
    logs = f"/api/v1/deployments/{dep['id']}/logs"
    sse = {"Accept": "text/event-stream"}
    cases: list[tuple[str, dict[str, Any]]] = [
        (logs, {"Last-Event-ID": "²".encode("latin-1")}),
        (logs, {**sse, "Last-Event-ID": "²".encode("latin-1")}),
        (logs, {**sse, "Last-Event-ID": "1" * 30}),
        (f"{logs}?after={'9' * 5000}", {}),
        (f"{logs}?after={'9' * 30}", sse),
        (f"{logs}?after=%EF%BC%91", {}),  # a fullwidth digit one
    ]
    for path, headers in cases:
        response = await capstan.http.get(path, headers=headers)
        assert response.status_code == 400, (path[-40:], headers, response.text)
        error_of(response)
    done = await capstan.http.get(f"{logs}?follow=0&after={'9' * 18}")
    assert done.status_code == 200 and done.text == ""
    listing = "/api/v1/projects/web/deployments"
    for query in (f"limit={'9' * 5000}", f"before={'9' * 30}", "limit=%D9%A3", "limit=1_0"):
        response = await capstan.http.get(f"{listing}?{query}")
        assert response.status_code == 422, (query, response.text)


async def test_hostile_signed_deliveries_are_answered_without_a_5xx(capstan: Capstan) -> None:
    secret = (await capstan.create_project(stages=APPROVAL, deploy_tags="*"))["webhook_secret"]

    async def deliver(body: bytes, **headers: str) -> httpx.Response:
        signed = github_headers(secret, body, **headers)
        return await capstan.http.post("/hooks/github/web", content=body, headers=signed)

    push = body_of(github_push("refs/heads/main", "a" * 40))
    long_event = await deliver(push, event="e" * 300, delivery="long-event")
    assert long_event.status_code == 202 and "ignored" in long_event.json(), long_event.text
    long_id = await deliver(push, delivery="d" * 300)  # deploys; audited as webhook:<id>
    assert long_id.status_code == 202 and "deployment" in long_id.json(), long_id.text
    long_tag = body_of(github_push("refs/tags/" + "v" * 300, "b" * 40))
    assert (await deliver(long_tag, delivery="long-tag")).status_code == 202
    nested = b'{"ref": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    surrogate = push.replace(b'"refs/heads/main"', rb'"refs/heads/ma\ud800in"')
    nul = push.replace(b'"refs/heads/main"', rb'"refs/heads/ma\u0000in"')
    for i, body in enumerate((nested, surrogate, nul)):
        response = await deliver(body, delivery=f"bad-{i}")
        assert response.status_code == 400 and error_of(response)["code"] == "bad_payload"
    deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"]
    assert len(deliveries) == 6
    assert {len(d["event"]) for d in deliveries if d["delivery"] == "long-event"} == {64}
    assert await Deployment.all().count() == 1


@pytest.mark.one_database
async def test_form_encoded_login_is_a_415(capstan: Capstan) -> None:
    body = b"username=admin&password=whatever"
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = await capstan.http.post(
            "/login", content=body, headers={"Content-Type": content_type, "Authorization": ""}
        )
        assert response.status_code == 415, response.text
        assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.one_database
async def test_a_chunked_body_past_the_limit_is_cut_off_with_413(capstan: Capstan) -> None:
    await capstan.create_project(stages=APPROVAL)
    dep = await capstan.trigger()
    before = await stored(capstan)

    async def two_mib() -> Any:
        for _ in range(32):
            yield b" " * (64 * 1024)

    for method, path in operations_with_json_bodies():
        if path.startswith("/hooks/"):
            continue
        response = await capstan.http.request(method, concrete(path, dep["id"]), content=two_mib())
        assert response.status_code == 413, (method, path, response.text)
        assert error_of(response)["code"] == "too_large"
    # A route that never reads its body answers as usual, a streaming one too (its
    # disconnect listener reads on, dropping what it gets).
    listing = await capstan.http.request(
        "GET", "/api/v1/projects/web/deployments", content=two_mib()
    )
    assert listing.status_code == 200
    log = await capstan.http.request(
        "GET", f"/api/v1/deployments/{dep['id']}/logs?follow=0", content=two_mib()
    )
    assert log.status_code == 200 and log.text.startswith("==> gate"), log.text
    assert await stored(capstan) == before
    assert (await capstan.http.get("/healthz")).status_code == 200


# The 400 MB body, against a `capstan serve` process whose memory is read from /proc.


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("hostile")
    redis = RedisServer(tmp)
    redis.start()
    try:
        with serve(tmp, redis.url) as running:
            yield running
    finally:
        redis.stop()


def post_streaming(url: str, path: str, total: int, *, chunked: bool) -> tuple[bytes, int]:
    """POST `total` bytes from a generator over a raw socket, declared in `Content-Length`
    or chunked; stop sending as soon as the server answers or closes. Returns the answer's
    status line and how many bytes were sent."""
    size = 256 * 1024
    blocks = (b"x" * min(size, total - start) for start in range(0, total, size))
    pieces = (f"{len(b):x}\r\n".encode() + b + b"\r\n" if chunked else b for b in blocks)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    parts = urlsplit(url)
    answer, sent, pending, sending = b"", 0, b"", True
    deadline = time.monotonic() + 60
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(f"{head}{framing}\r\n\r\n".encode())
        sock.setblocking(False)
        while b"\r\n" not in answer and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 1)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            elif writable:
                pending = pending or next(pieces, b"")
                if not pending:  # all sent: wait for the answer
                    sending = False
                    if chunked:
                        sock.sendall(b"0\r\n\r\n")
                    continue
                n = sock.send(pending)
                sent, pending = sent + n, pending[n:]
    return answer.partition(b"\r\n")[0], sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_400_mb_body_leaves_the_servers_memory_within_100_mb(
    served: Served, chunked: bool
) -> None:
    total = 400 * 1000 * 1000
    rss_before = served.rss_kib()
    served.reset_peak()
    status, sent = post_streaming(served.url, "/login", total, chunked=chunked)
    peak = served.rss_kib("VmHWM")
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < total // 4, f"the server answered only after {sent} bytes"
    assert (peak - rss_before) < 100 * 1024, f"RSS grew from {rss_before} to {peak} KiB"
    assert httpx.get(f"{served.url}/healthz").status_code == 200


def test_a_webhook_body_stops_at_25_mib_without_holding_more(served: Served) -> None:
    token = served.admin_token()
    headers = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{served.url}/api/v1/projects", headers=headers,
                      json={"name": "big", "stages": APPROVAL})  # fmt: skip
    assert made.status_code == 201, made.text
    rss_before = served.rss_kib()
    served.reset_peak()
    status, sent = post_streaming(served.url, "/hooks/github/big", 400 * MIB, chunked=True)
    peak = served.rss_kib("VmHWM")
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 100 * MIB
    assert (peak - rss_before) < 100 * 1024, f"RSS grew from {rss_before} to {peak} KiB"


def test_the_server_logged_no_traceback(served: Served) -> None:
    log = served.log.read_text()
    assert "Traceback" not in log, log[-3000:]
