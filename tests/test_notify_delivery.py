"""Notifications end to end, against HTTP sinks on 127.0.0.1 that the test starts: one event
for each subscribed channel, retried on 5xx and timeouts, dropped on 4xx, never sent twice, and
never in a deployment's way."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import Capstan, RedisServer, eventually, free_port, running_capstan
from payloads import body_of, gitlab_headers, gitlab_push
from served import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain.notify import MAX_ATTEMPTS, DeliveryStatus, ProviderKind
from app.keyring.keys import read_keys
from app.keyring.vault import Vault
from app.models import (
    Deployment,
    NotifyChannel,
    NotifyDelivery,
    NotifyProvider,
    NotifySubscription,
    Project,
)
from app.notify import config, dispatch
from app.settings import Settings

SIGNING = "s3cret-signing-key"


@dataclasses.dataclass
class Sink:
    """Endpoints that answer as broken services do, recording what reached them."""

    url: str
    seen: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    flaky_failures: int = 5

    def record(self, name: str, request: Request, body: bytes) -> None:
        self.seen.setdefault(name, []).append({"headers": dict(request.headers), "body": body})


@contextlib.asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    port = free_port()
    box = Sink(f"http://127.0.0.1:{port}")

    async def flaky(request: Request) -> Response:
        box.record("flaky", request, await request.body())
        if len(box.seen["flaky"]) <= box.flaky_failures:
            return JSONResponse({"error": "busy"}, status_code=500)
        return JSONResponse({"ok": True})

    async def hang(request: Request) -> Response:
        box.record("hang", request, await request.body())
        await asyncio.sleep(30)
        return JSONResponse({"ok": True})

    async def gone(request: Request) -> Response:
        box.record("gone", request, await request.body())
        return JSONResponse({"error": "no such hook"}, status_code=404)

    app = Starlette(
        routes=[Route(f"/{f.__name__}", f, methods=["POST"]) for f in (flaky, hang, gone)]
    )
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None,
                                           timeout_graceful_shutdown=0))  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield box
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


@pytest.fixture
async def notifying(settings: Settings) -> AsyncIterator[Capstan]:
    fast = dataclasses.replace(settings, notify_allow_private=True, notify_retry_seconds=0.05)
    async with running_capstan(fast) as running:
        yield running


async def webhook_channels(vault: Vault, box: Sink, project: str, *names: str) -> None:
    provider = NotifyProvider(name="hooks", kind=ProviderKind.WEBHOOK, settings={},
                              created_by="test")  # fmt: skip
    config.seal(vault, provider, {"signing_secret": SIGNING})
    await provider.save()
    target = await Project.get(name=project)
    for name in names:
        channel = NotifyChannel(name=name, provider=provider, target={}, timeout=0.5,
                                created_by="test")  # fmt: skip
        config.seal(vault, channel, {"url": f"{box.url}/{name}"})
        await channel.save()
        events = ["succeeded", "failed"]
        await NotifySubscription.create(channel=channel, project=target, events=events,
                                        created_by="test")  # fmt: skip


async def settled_deliveries(timeout: float = 30) -> dict[str, NotifyDelivery]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await NotifyDelivery.all().prefetch_related("channel")
        if rows and all(r.status != DeliveryStatus.PENDING for r in rows):
            return {r.channel.name: r for r in rows}
        assert time.monotonic() < deadline, [(r.channel.name, r.status, r.attempts) for r in rows]
        await asyncio.sleep(0.1)


async def test_three_broken_channels_each_get_what_they_deserve(notifying: Capstan) -> None:
    await notifying.create_project(stages=[{"name": "build", "run": "sleep 1; echo built"}])
    baseline = await notifying.wait_for((await notifying.trigger())["id"], "COMPLETED")
    async with sink() as box:
        await webhook_channels(_server_vault(notifying), box, "web", "flaky", "hang", "gone")
        dep = await notifying.wait_for((await notifying.trigger())["id"], "COMPLETED")
        rows = await settled_deliveries()
    # The deployment did not wait for any channel.
    assert _seconds(dep) < _seconds(baseline) + 2.0
    assert set(rows) == {"flaky", "hang", "gone"}
    flaky, hang, gone = rows["flaky"], rows["hang"], rows["gone"]
    assert (flaky.status, flaky.attempts, flaky.response_code) == (DeliveryStatus.SENT, 6, 200)
    assert (hang.status, hang.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    assert (gone.status, gone.attempts, gone.response_code) == (DeliveryStatus.DROPPED, 1, 404)
    # What arrived: every attempt of one delivery, the same signed body; nothing else.
    assert len(box.seen["flaky"]) == 6 and len(box.seen["gone"]) == 1
    assert len(box.seen["hang"]) == MAX_ATTEMPTS
    bodies = {_unstamped(request["body"]) for request in box.seen["flaky"]}
    assert len(bodies) == 1  # the same message each time (but for when it was sent)
    for request in box.seen["flaky"]:
        mac = hmac.new(SIGNING.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["x-capstan-signature"] == f"sha256={mac}"
        assert request["headers"]["x-capstan-delivery"] == str(flaky.id)
    message = json.loads(box.seen["flaky"][-1]["body"])
    assert message["event"] == "succeeded" and message["url"].endswith(f"/deployments/{dep['id']}")
    channels = {c.name: c for c in await NotifyChannel.all()}
    assert channels["flaky"].failures == 0 and channels["gone"].failures == 1
    assert channels["hang"].failures == 1 and channels["hang"].last_error


async def test_a_failure_tells_the_stage_and_the_last_lines_masked(notifying: Capstan) -> None:
    await notifying.create_project(stages=[
        {"name": "build", "run": "for i in $(seq 1 30); do echo line $i; done; "
                                 "echo token=$API_TOKEN; exit 4"},
    ])  # fmt: skip
    put = await notifying.http.put("/api/v1/projects/web/secrets/API_TOKEN",
                                   json={"value": "hunter2-very-secret"})  # fmt: skip
    assert put.status_code == 204
    async with sink() as box:
        box.flaky_failures = 0
        await webhook_channels(_server_vault(notifying), box, "web", "flaky")
        await notifying.wait_for((await notifying.trigger())["id"], "FAILED")
        rows = await settled_deliveries()
    assert rows["flaky"].status == DeliveryStatus.SENT
    message = json.loads(box.seen["flaky"][0]["body"])
    assert message["event"] == "failed" and message["facts"]["stage"] == "build"
    assert len(message["lines"]) == 20 and "line 30" in message["lines"]
    assert "hunter2-very-secret" not in json.dumps(message)
    assert "token=[MASKED]" in message["lines"]


async def test_the_same_event_twice_makes_one_delivery(notifying: Capstan) -> None:
    await notifying.create_project()
    async with sink() as box:
        box.flaky_failures = 0
        await webhook_channels(_server_vault(notifying), box, "web", "flaky")
        dep_id = (await notifying.trigger())["id"]
        await notifying.wait_for(dep_id, "COMPLETED")
        await settled_deliveries()
        dep = await Deployment.get(id=dep_id)
        event = await dispatch.event_for(dep, dispatch.kind_for(dep), notifying.settings.base_url)
        assert await dispatch.emit(event) == []  # a retried emission: nothing new
    assert len(box.seen["flaky"]) == 1
    assert await NotifyDelivery.all().count() == 1


def _unstamped(body: bytes) -> str:
    message = json.loads(body)
    message.pop("sent_at")
    return json.dumps(message, sort_keys=True)


def _seconds(dep: dict[str, Any]) -> float:
    started = datetime.fromisoformat(dep["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(dep["finished_at"].replace("Z", "+00:00"))
    return (finished - started).total_seconds()


def _server_vault(capstan: Capstan) -> Vault:
    """The server's keys, as `capstan serve` reads them."""
    return Vault(*read_keys(capstan.settings))


def test_a_channel_url_never_reaches_the_server_log(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """At the most talkative level, a test message to a webhook whose URL is its token: the
    token appears in no log line (httpx logs each URL it fetches at INFO)."""
    token = "T0KEN-in-the-url-9f8e7d"
    loud = {"CAPSTAN_LOG_LEVEL": "debug", "CAPSTAN_NOTIFY_ALLOW_PRIVATE": "1"}

    async def hook_sink(port: int, got: asyncio.Event) -> None:
        async def hook(request: Request) -> Response:
            got.set()
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route(f"/hook/{token}", hook, methods=["POST"])])
        config = uvicorn.Config(app, port=port, log_config=None)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        await asyncio.wait_for(got.wait(), 30)
        server.should_exit = True
        await serving

    port = free_port()
    with serve(tmp_path, redis_server.url, env=loud) as served:
        headers = {"Authorization": f"Bearer {served.admin_token()}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=30) as http:
            made = http.post("/api/v1/notifications/providers",
                             json={"name": "slack", "kind": "slack", "settings": {}})  # fmt: skip
            assert made.status_code == 201, made.text
            url = f"http://127.0.0.1:{port}/hook/{token}"
            channel = {"name": "ops", "provider": "slack", "target": {"url": url}}
            made = http.post("/api/v1/notifications/channels", json=channel)
            assert made.status_code == 201, made.text

            async def test_and_wait() -> None:
                got = asyncio.Event()
                sink = asyncio.create_task(hook_sink(port, got))
                await asyncio.sleep(0.5)
                sent = await asyncio.to_thread(http.post, "/api/v1/notifications/channels/ops/test")
                assert sent.status_code == 202, sent.text
                await sink

            asyncio.run(test_and_wait())
            time.sleep(0.5)
    text = served.log.read_text()
    assert "notification attempt" in text  # the log is talking
    assert token not in text


async def test_a_gate_and_a_refused_push_are_told_once_each(notifying: Capstan) -> None:
    stages = [{"name": "wait", "approval": True}]
    created = await notifying.create_project(stages=stages, concurrency="reject")
    async with sink() as box:
        box.flaky_failures = 0
        await webhook_channels(_server_vault(notifying), box, "web", "flaky")
        await NotifySubscription.filter().update(events=["awaiting_approval", "delivery_refused"])
        running = await notifying.trigger()
        await notifying.awaiting_approval(running["id"])
        body = body_of(gitlab_push("refs/heads/main", "e" * 40))
        for _ in range(2):  # the sender retries: one refusal told
            refused = await notifying.http.post(
                "/hooks/gitlab/web", content=body,
                headers=gitlab_headers(created["webhook_secret"], delivery="busy"),
            )  # fmt: skip
            assert refused.status_code == 202 and "ignored" in refused.json()
        deadline = time.monotonic() + 20
        while len(box.seen.get("flaky", [])) < 2:
            assert time.monotonic() < deadline, box.seen
            await asyncio.sleep(0.1)
        await notifying.http.post(f"/api/v1/deployments/{running['id']}/cancel")
        await asyncio.sleep(0.5)
    messages = {json.loads(r["body"])["event"]: json.loads(r["body"]) for r in box.seen["flaky"]}
    assert len(box.seen["flaky"]) == 2
    gate, refusal = messages["awaiting_approval"], messages["delivery_refused"]
    assert gate["facts"]["gate"] == "wait" and "admin" in gate["facts"]["may approve"]
    assert refusal["facts"]["delivery"] == "busy" and "active" in refusal["facts"]["reason"]
    assert refusal["url"].endswith("/projects/web/webhooks")


async def test_a_redis_outage_and_its_recovery_reach_the_admins(
    settings: Settings, tmp_path: Path
) -> None:
    outage = RedisServer(tmp_path)
    outage.start()
    local = dataclasses.replace(settings, redis_url=outage.url, notify_allow_private=True,
                                notify_retry_seconds=0.05, reconcile_seconds=0.2)  # fmt: skip
    try:
        async with running_capstan(local) as capstan, sink() as box:
            box.flaky_failures = 0
            await capstan.create_project()
            await webhook_channels(_server_vault(capstan), box, "web", "flaky")
            await NotifySubscription.filter().update(project_id=None,
                                                     events=["outage", "recovered"])  # fmt: skip
            outage.stop()

            async def heard(count: int) -> bool:
                return len(box.seen.get("flaky", [])) >= count

            await eventually(lambda: heard(1), timeout=20)  # sent without the queue
            outage.start()
            await eventually(lambda: heard(2), timeout=20)  # through the queue again
    finally:
        outage.stop()
    events = [json.loads(r["body"]) for r in box.seen["flaky"]]
    assert [e["event"] for e in events] == ["outage", "recovered"]
    assert "Redis is unreachable" in events[0]["title"] and events[0]["project"] is None
