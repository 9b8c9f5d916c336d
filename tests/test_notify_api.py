"""The notifications API against a real server: providers, channels, test messages, delivery
logs and subscriptions; secret values in no response, audit event, log record or database
column; who may do what; 422s naming the field; the SSRF guard at configuration time; and no
5xx for hostile input."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import Capstan, database_dump, free_port, running_capstan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_access import add_user

from app.settings import Settings

SIGNING = "signing-key-never-shown-1"
HOOK_TOKEN = "T000-hook-token-never-shown-2"
PASSWORD = "smtp-password-never-shown-3"
BOT_TOKEN = "123456:bot-token-never-shown-4"
SECRETS = (SIGNING, HOOK_TOKEN, PASSWORD, BOT_TOKEN)
PUBLIC_URL = "https://93.184.215.14/hooks/"  # a public address: no DNS needed to check it
EMAIL = {"host": "93.184.215.14", "port": 587, "sender": "capstan@example.com"}


@dataclasses.dataclass
class Sink:
    """An HTTP service on 127.0.0.1 that records what reaches it."""

    url: str
    bodies: list[bytes] = dataclasses.field(default_factory=list)


@contextlib.asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    port = free_port()
    box = Sink(f"http://127.0.0.1:{port}")

    async def hook(request: Request) -> Response:
        box.bodies.append(await request.body())
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=0
        )
    )
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
async def open_capstan(settings: Settings) -> AsyncIterator[Capstan]:
    """A Capstan whose channels may reach loopback (CAPSTAN_NOTIFY_ALLOW_PRIVATE=1)."""
    allowed = dataclasses.replace(settings, notify_allow_private=True)
    async with running_capstan(allowed) as running:
        yield running


async def post(http: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    response = await http.post(f"/api/v1/notifications/{path}", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def webhook_channel(capstan: Capstan, url: str, name: str = "ops") -> dict[str, Any]:
    providers = (await capstan.http.get("/api/v1/notifications/providers")).json()["providers"]
    if "hooks" not in [p["name"] for p in providers]:
        await post(
            capstan.http,
            "providers",
            {"name": "hooks", "kind": "webhook", "settings": {"signing_secret": SIGNING}},
        )
    return await post(
        capstan.http, "channels", {"name": name, "provider": "hooks", "target": {"url": url}}
    )


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


async def wait_for_delivery(capstan: Capstan, channel: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = await capstan.http.get(f"/api/v1/notifications/channels/{channel}/deliveries")
        rows = response.json()["deliveries"]
        if rows and rows[0]["status"] == status:
            return dict(rows[0])
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def test_secret_fields_show_as_names_never_as_values(
    open_capstan: Capstan, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = open_capstan.http
    seen: list[str] = []
    async with sink() as box:
        seen.append(json.dumps(await webhook_channel(open_capstan, f"{box.url}/{HOOK_TOKEN}")))
        email = await post(
            http,
            "providers",
            {"name": "mail", "kind": "email", "settings": {**EMAIL, "password": PASSWORD}},
        )
        assert email["settings"] == EMAIL and email["secrets"] == ["password"]
        bot = await post(
            http,
            "providers",
            {"name": "bot", "kind": "telegram", "settings": {"bot_token": BOT_TOKEN}},
        )
        assert bot["settings"] == {} and bot["secrets"] == ["bot_token"]
        test = await http.post("/api/v1/notifications/channels/ops/test")
        assert test.status_code == 202, test.text
        delivery = await wait_for_delivery(open_capstan, "ops", "sent")
        assert delivery["id"] == test.json()["delivery"]
        assert b"Test notification from Capstan" in box.bodies[0]
    providers = (await http.get("/api/v1/notifications/providers")).json()["providers"]
    assert {p["name"]: p["secrets"] for p in providers} == {
        "bot": ["bot_token"],
        "hooks": ["signing_secret"],
        "mail": ["password"],
    }
    channel = (await http.get("/api/v1/notifications/channels")).json()["channels"][0]
    assert channel["secrets"] == ["url"] and channel["target"] == {}
    assert channel["healthy"] and channel["failures"] == 0 and channel["kind"] == "webhook"
    for path in (
        "notifications/providers",
        "notifications/channels",
        "notifications/channels/ops/deliveries",
        "audit?limit=500",
    ):
        seen.append((await http.get(f"/api/v1/{path}")).text)
    seen += [json.dumps(email), json.dumps(bot)]
    # Every log record but the HTTP client library's own request lines (httpx logs each URL
    # at INFO, and a webhook URL is its token: quieting that is the logging setup's job).
    records = [r for r in caplog.records if r.name.partition(".")[0] not in ("httpx", "httpcore")]
    assert any(r.name.startswith("capstan") for r in records)
    seen += [r.getMessage() + json.dumps(vars(r), default=str) for r in records]
    seen.append(await database_dump(open_capstan.settings.database_url))
    for text in seen:
        for value in SECRETS:
            assert value not in text


async def test_a_change_replaces_the_fields_given_and_null_removes_one(capstan: Capstan) -> None:
    http = capstan.http
    await post(
        http,
        "providers",
        {"name": "mail", "kind": "email", "settings": {**EMAIL, "password": PASSWORD}},
    )
    path = "/api/v1/notifications/providers/mail"
    changed = await http.patch(path, json={"settings": {"port": 465, "security": "tls"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"] == {**EMAIL, "port": 465, "security": "tls"}
    assert changed.json()["secrets"] == ["password"]
    removed = await http.patch(path, json={"settings": {"password": None}})
    assert removed.json()["secrets"] == []
    assert error(await http.patch(path, json={"settings": {"sender": None}}), 422)["field"] == (
        "sender"
    )
    assert error(await http.patch(path, json={"kind": "slack"}), 422)["field"] == "kind"
    audit = (await http.get("/api/v1/audit?action=notify.provider.update")).json()["events"]
    assert [e["details"]["fields"] for e in audit] == [["password"], ["port", "security"]]
    assert (
        error(await http.patch("/api/v1/notifications/providers/nope", json={"settings": {}}), 404)[
            "code"
        ]
        == "provider_not_found"
    )

    await webhook_channel(capstan, PUBLIC_URL + HOOK_TOKEN)
    channel = "/api/v1/notifications/channels/ops"
    timed = await http.patch(channel, json={"timeout": 2.5})
    assert timed.status_code == 200 and timed.json()["timeout"] == 2.5
    assert error(await http.patch(channel, json={"target": {"url": None}}), 422)["field"] == "url"
    assert error(await http.patch(channel, json={"name": "other"}), 422)["field"] == "name"
    moved = await http.patch(channel, json={"target": {"url": PUBLIC_URL + "other"}})
    assert moved.status_code == 200 and moved.json()["secrets"] == ["url"]
    audit = (await http.get("/api/v1/audit?action=notify.channel.update")).json()["events"]
    assert [e["details"]["fields"] for e in audit] == [["url"], ["timeout"]]
    assert HOOK_TOKEN not in json.dumps(audit) and PASSWORD not in json.dumps(audit)


async def test_deleting_a_provider_deletes_its_channels_and_their_subscriptions(
    capstan: Capstan,
) -> None:
    http = capstan.http
    await capstan.create_project()
    await webhook_channel(capstan, PUBLIC_URL + "a", "a")
    await webhook_channel(capstan, PUBLIC_URL + "b", "b")
    subscribed = await http.post(
        "/api/v1/projects/web/subscriptions", json={"channel": "a", "events": ["failed"]}
    )
    assert subscribed.status_code == 201, subscribed.text
    assert (await http.delete("/api/v1/notifications/channels/b")).status_code == 204
    assert (await http.delete("/api/v1/notifications/providers/hooks")).status_code == 204
    assert (await http.get("/api/v1/notifications/channels")).json() == {"channels": []}
    assert (await http.get("/api/v1/projects/web/subscriptions")).json() == {"subscriptions": []}
    assert error(await http.delete("/api/v1/notifications/providers/hooks"), 404)["code"] == (
        "provider_not_found"
    )
    actions = [e["action"] for e in (await http.get("/api/v1/audit")).json()["events"]]
    assert actions[:2] == ["notify.provider.delete", "notify.channel.delete"]
    deleted = (await http.get("/api/v1/audit?action=notify.provider.delete")).json()["events"]
    assert deleted[0]["details"] == {"channels": ["a"]}


INVALID_PROVIDERS = [
    ({"name": "Bad Name", "kind": "slack"}, "name"),
    ({"name": "x", "kind": "carrier-pigeon"}, "kind"),
    ({"name": "x", "kind": "webhook"}, "signing_secret"),
    ({"name": "x", "kind": "webhook", "settings": []}, "settings"),
    ({"name": "x", "kind": "webhook", "settings": {"signing_secret": "k", "colour": 1}}, "colour"),
    ({"name": "x", "kind": "email", "settings": {**EMAIL, "port": 0}}, "port"),
    ({"name": "x", "kind": "email", "settings": {**EMAIL, "security": "maybe"}}, "security"),
    ({"name": "x", "kind": "email", "settings": {**EMAIL, "sender": "nobody"}}, "sender"),
    (
        {"name": "x", "kind": "telegram", "settings": {"bot_token": "t", "api_url": "ftp://a"}},
        "api_url",
    ),
    ({"name": "x", "kind": "slack", "extra": True}, "extra"),
]
INVALID_CHANNELS = [
    ({"name": "c", "provider": "nope", "target": {"url": PUBLIC_URL}}, "provider"),
    ({"name": "c", "provider": "hooks"}, "url"),
    ({"name": "c", "provider": "hooks", "target": {"url": "ftp://example.com/"}}, "url"),
    ({"name": "c", "provider": "hooks", "target": {"url": PUBLIC_URL, "to": ["a@b.c"]}}, "to"),
    ({"name": "c", "provider": "hooks", "target": {"url": PUBLIC_URL}, "timeout": 0}, "timeout"),
    ({"name": "c", "provider": "hooks", "target": {"url": PUBLIC_URL}, "timeout": "1"}, "timeout"),
    ({"name": "c", "provider": "mail", "target": {"to": ["not an address"]}}, "to"),
    ({"name": "c", "provider": "mail", "target": {"to": []}}, "to"),
    ({"name": "c", "provider": "apprise", "target": {"url": "nonsense://x"}}, "url"),
]


async def test_invalid_configuration_is_a_422_naming_the_field(capstan: Capstan) -> None:
    http = capstan.http
    for body, field in INVALID_PROVIDERS:
        found = error(await http.post("/api/v1/notifications/providers", json=body), 422)
        assert found["field"] == field, (body, found)
    await post(
        http,
        "providers",
        {"name": "hooks", "kind": "webhook", "settings": {"signing_secret": SIGNING}},
    )
    await post(http, "providers", {"name": "mail", "kind": "email", "settings": EMAIL})
    await post(http, "providers", {"name": "apprise", "kind": "apprise"})
    for body, field in INVALID_CHANNELS:
        found = error(await http.post("/api/v1/notifications/channels", json=body), 422)
        assert found["field"] == field, (body, found)
    again = await http.post(
        "/api/v1/notifications/providers", json={"name": "mail", "kind": "email", "settings": EMAIL}
    )
    assert error(again, 409)["code"] == "provider_exists"
    channels = (await http.get("/api/v1/notifications/channels")).json()
    assert channels == {"channels": []}


REFUSED = [
    (
        "channels",
        {"name": "c", "provider": "hooks", "target": {"url": "http://127.0.0.1:9/"}},
        "url",
        "loopback",
    ),
    (
        "channels",
        {
            "name": "c",
            "provider": "hooks",
            "target": {"url": "http://169.254.169.254/latest/meta-data/"},
        },
        "url",
        "link-local",
    ),
    (
        "channels",
        {"name": "c", "provider": "hooks", "target": {"url": "http://[::1]:8000/"}},
        "url",
        "loopback",
    ),
    (
        "channels",
        {"name": "c", "provider": "hooks", "target": {"url": "http://10.1.2.3/"}},
        "url",
        "private",
    ),
    (
        "channels",
        {"name": "c", "provider": "hooks", "target": {"url": "http://localhost/"}},
        "url",
        "loopback",
    ),
    (
        "channels",
        {"name": "c", "provider": "apprise", "target": {"url": "json://127.0.0.1:6379/"}},
        "url",
        "loopback",
    ),
    (
        "providers",
        {
            "name": "p",
            "kind": "telegram",
            "settings": {"bot_token": BOT_TOKEN, "api_url": "http://192.168.1.1/"},
        },
        "api_url",
        "private",
    ),
    (
        "providers",
        {"name": "p", "kind": "email", "settings": {**EMAIL, "host": "127.0.0.1"}},
        "host",
        "loopback",
    ),
]


async def test_private_destinations_are_refused_unless_the_setting_allows_them(
    capstan: Capstan, settings: Settings
) -> None:
    http = capstan.http
    await post(
        http,
        "providers",
        {"name": "hooks", "kind": "webhook", "settings": {"signing_secret": SIGNING}},
    )
    await post(http, "providers", {"name": "apprise", "kind": "apprise"})
    for path, body, field, reason in REFUSED:
        found = error(await http.post(f"/api/v1/notifications/{path}", json=body), 422)
        assert found["field"] == field and reason in found["message"], (body, found)
    public = await webhook_channel(capstan, PUBLIC_URL + HOOK_TOKEN)
    assert public["secrets"] == ["url"]
    # Apprise URLs whose host is a token (tgram://<bot token>/<chat>) are not hosts to check.
    await post(
        http,
        "channels",
        {"name": "tg", "provider": "apprise", "target": {"url": f"tgram://{BOT_TOKEN}/-100123/"}},
    )
    moved = await http.patch(
        "/api/v1/notifications/channels/ops", json={"target": {"url": "http://127.0.0.1:9/"}}
    )
    assert error(moved, 422)["field"] == "url"
    names = [
        c["name"] for c in (await http.get("/api/v1/notifications/channels")).json()["channels"]
    ]
    assert names == ["ops", "tg"]
    providers = (await http.get("/api/v1/notifications/providers")).json()["providers"]
    assert [p["name"] for p in providers] == ["apprise", "hooks"]


async def test_loopback_is_allowed_with_the_setting(open_capstan: Capstan) -> None:
    http = open_capstan.http
    await post(
        http,
        "providers",
        {"name": "mail", "kind": "email", "settings": {**EMAIL, "host": "127.0.0.1", "port": 2525}},
    )
    made = await webhook_channel(open_capstan, "http://127.0.0.1:9/")
    assert made["name"] == "ops"


async def test_subscriptions_one_per_channel_and_project(capstan: Capstan) -> None:
    http = capstan.http
    await capstan.create_project()
    await capstan.create_project("api")
    await webhook_channel(capstan, PUBLIC_URL + "a", "team")
    body = {"channel": "team", "events": ["succeeded", "failed", "failed"]}
    made = await http.post("/api/v1/projects/web/subscriptions", json=body)
    assert made.status_code == 201, made.text
    sub = made.json()
    assert {k: sub[k] for k in ("channel", "project", "events", "created_by")} == {
        "channel": "team",
        "project": "web",
        "events": ["failed", "succeeded"],
        "created_by": "admin",
    }
    again = await http.post("/api/v1/projects/web/subscriptions", json=body)
    assert error(again, 409)["code"] == "already_subscribed"
    other = await http.post("/api/v1/projects/api/subscriptions", json=body)
    assert other.status_code == 201
    outage = {"channel": "team", "events": ["outage"]}
    refused = await http.post("/api/v1/projects/web/subscriptions", json=outage)
    assert error(refused, 422)["field"] == "events"
    everywhere = await http.post("/api/v1/notifications/subscriptions", json=outage)
    assert everywhere.status_code == 201 and everywhere.json()["project"] is None
    twice = await http.post("/api/v1/notifications/subscriptions", json=outage)
    assert error(twice, 409)["code"] == "already_subscribed"
    for bad, field in (
        ({"channel": "nope", "events": ["failed"]}, "channel"),
        ({"channel": "team", "events": []}, "events"),
        ({"channel": "team", "events": ["exploded"]}, "events"),
        ({"channel": "team", "events": ["failed"], "project": "api"}, "project"),
    ):
        found = error(await http.post("/api/v1/projects/web/subscriptions", json=bad), 422)
        assert found["field"] == field

    listed = (await http.get("/api/v1/projects/web/subscriptions")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]]
    every = (await http.get("/api/v1/notifications/subscriptions")).json()["subscriptions"]
    assert [s["project"] for s in every] == [None, "api", "web"]
    # A subscription is deleted through its own project's path, or by an admin's.
    wrong = await http.delete(f"/api/v1/projects/api/subscriptions/{sub['id']}")
    assert error(wrong, 404)["code"] == "subscription_not_found"
    gone = await http.delete(f"/api/v1/projects/web/subscriptions/{sub['id']}")
    assert gone.status_code == 204
    assert error(await http.delete(f"/api/v1/projects/web/subscriptions/{sub['id']}"), 404)
    not_an_id = await http.delete("/api/v1/notifications/subscriptions/not-a-uuid")
    assert error(not_an_id, 404)["code"] == "subscription_not_found"
    admin_gone = await http.delete(f"/api/v1/notifications/subscriptions/{everywhere.json()['id']}")
    assert admin_gone.status_code == 204
    audit = (await http.get("/api/v1/audit?project=web")).json()["events"]
    assert [e["action"] for e in audit][:2] == [
        "notify.subscription.delete",
        "notify.subscription.create",
    ]


async def test_a_test_message_goes_to_that_channel_only_and_its_log_pages(
    open_capstan: Capstan,
) -> None:
    http = open_capstan.http
    async with sink() as box:
        await webhook_channel(open_capstan, f"{box.url}/one", "one")
        await webhook_channel(open_capstan, f"{box.url}/two", "two")
        ids = []
        for _ in range(3):
            sent = await http.post("/api/v1/notifications/channels/one/test")
            assert sent.status_code == 202
            ids.append(sent.json()["delivery"])
            await wait_for_delivery(open_capstan, "one", "sent")
    assert len(box.bodies) == 3
    log = "/api/v1/notifications/channels/one/deliveries"
    newest = (await http.get(f"{log}?limit=2")).json()["deliveries"]
    assert [d["id"] for d in newest] == ids[:0:-1]
    assert newest[0]["event"] == "succeeded" and newest[0]["attempts"] == 1
    assert newest[0]["response_code"] == 200 and newest[0]["finished_at"]
    older = (await http.get(f"{log}?before={newest[-1]['id']}")).json()["deliveries"]
    assert [d["id"] for d in older] == ids[:1]
    assert (await http.get("/api/v1/notifications/channels/two/deliveries")).json() == {
        "deliveries": []
    }
    for query, field in (
        ("limit=0", "limit"),
        ("before=x", "before"),
        (f"before={ids[0][::-1]}", "before"),
    ):
        assert error(await http.get(f"{log}?{query}"), 422)["field"] == field
    missing = await http.post("/api/v1/notifications/channels/nope/test")
    assert error(missing, 404)["code"] == "channel_not_found"
    tests = (await http.get("/api/v1/audit?action=notify.channel.test")).json()["events"]
    assert [e["details"]["delivery"] for e in tests] == ids[::-1]


# Who may do what: (admin, manager, developer owner, developer member, viewer, other developer)
ROLES = {
    "manager": ("manager", None),
    "owner": ("developer", "owner"),
    "member": ("developer", "member"),
    "viewer": ("viewer", None),
    "outsider": ("developer", None),
}


@pytest.fixture
async def team(capstan: Capstan) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    await capstan.create_project()
    clients = {"admin": capstan.http}
    for name, (role, membership) in ROLES.items():
        clients[name] = await add_user(capstan, name, role)
        if membership:
            put = await capstan.http.put(
                f"/api/v1/projects/web/members/{name}", json={"role": membership}
            )
            assert put.status_code == 200
    yield clients
    for name in ROLES:
        await clients[name].aclose()


async def test_each_role_may_do_what_the_readme_says(
    capstan: Capstan, team: dict[str, httpx.AsyncClient]
) -> None:
    managers = {"admin", "manager"}
    for person, http in team.items():
        listed = await http.get("/api/v1/notifications/providers")
        assert listed.status_code == (200 if person in managers else 403), person
        body = {"name": f"p-{person}", "kind": "webhook", "settings": {"signing_secret": "k"}}
        made = await http.post("/api/v1/notifications/providers", json=body)
        assert made.status_code == (201 if person in managers else 403), person
    await webhook_channel(capstan, PUBLIC_URL, "team")
    for person, http in team.items():
        channels = await http.get("/api/v1/notifications/channels")
        assert channels.status_code == 200, person
        channel = {c["name"]: c for c in channels.json()["channels"]}["team"]
        assert channel["secrets"] == ["url"]
        assert channel["target"] == ({} if person in managers else None), person
        body = {"name": f"c-{person}", "provider": "hooks", "target": {"url": PUBLIC_URL}}
        made = await http.post("/api/v1/notifications/channels", json=body)
        assert made.status_code == (201 if person in managers else 403), person
        for method, path in (
            ("POST", "channels/team/test"),
            ("GET", "channels/team/deliveries"),
            ("PATCH", "channels/team"),
            ("DELETE", "providers/nope"),
        ):
            change = {"timeout": 5} if method == "PATCH" else None
            response = await http.request(method, f"/api/v1/notifications/{path}", json=change)
            expected = {"POST": 202, "GET": 200, "PATCH": 200, "DELETE": 404}[method]
            assert response.status_code == (expected if person in managers else 403), (
                person,
                path,
                response.text,
            )

    editors = {"admin", "manager", "owner"}
    seen = {"outsider": 404}
    for person, http in team.items():
        body = {"channel": f"c-{person}" if person in managers else "team", "events": ["failed"]}
        made = await http.post("/api/v1/projects/web/subscriptions", json=body)
        expected = 201 if person in editors else seen.get(person, 403)
        assert made.status_code == expected, (person, made.text)
        listed = await http.get("/api/v1/projects/web/subscriptions")
        assert listed.status_code == seen.get(person, 200), person
        if made.status_code == 201:
            sub = made.json()["id"]
            gone = await http.delete(f"/api/v1/projects/web/subscriptions/{sub}")
            assert gone.status_code == 204
        everywhere = await http.post("/api/v1/notifications/subscriptions", json=body)
        assert everywhere.status_code == (201 if person == "admin" else 403), person
        every = await http.get("/api/v1/notifications/subscriptions")
        assert every.status_code == (200 if person == "admin" else 403), person
    unseen = await team["outsider"].get("/api/v1/projects/web/subscriptions")
    assert error(unseen, 404)["code"] == "project_not_found"


HOSTILE_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1e308,
    True,
    "",
    " ",
    "a" * 5000,
    "\x00",
    "\ud800",
    "é" * 70,
    "../../etc",
    "%00",
    [],
    [[[[[]]]]],
    {},
    {"": None},
    {"\x00": 1},
    ["\x00"],
]
HOSTILE_PATHS = ["a" * 300, "%00", "%F0%9F%92%A9", "..", "UPPER", "-dash", "x%0A"]


async def test_hostile_input_gets_a_4xx_never_a_5xx(open_capstan: Capstan) -> None:
    http = open_capstan.http
    await open_capstan.create_project()
    await webhook_channel(open_capstan, "http://127.0.0.1:9/hook", "team")
    await post(http, "providers", {"name": "mail", "kind": "email", "settings": EMAIL})
    collections = {
        "/api/v1/notifications/providers": ("name", "kind", "settings"),
        "/api/v1/notifications/channels": ("name", "provider", "target", "timeout"),
        "/api/v1/notifications/subscriptions": ("channel", "events"),
        "/api/v1/projects/web/subscriptions": ("channel", "events"),
    }
    changes = {
        "/api/v1/notifications/providers/hooks": ("settings",),
        "/api/v1/notifications/providers/mail": ("settings",),
        "/api/v1/notifications/channels/team": ("target", "timeout"),
    }
    headers = {"Content-Type": "application/json"}
    answers = []
    for path, fields in {**collections, **changes}.items():
        method = "POST" if path in collections else "PATCH"
        bodies = [
            json.dumps(body).encode()
            for field in fields
            for value in HOSTILE_VALUES
            for body in (
                {field: value},
                {field: {"to": value, "port": value, "url": value, "sender": value}},
            )
        ]
        bodies += [b"", b"{", b"[]", b'"x"', b'{"a":' * 40 + b"1" + b"}" * 40, b"\xff\xfe"]
        for raw in bodies:
            answers.append(await http.request(method, path, content=raw, headers=headers))
    templates = [
        "/api/v1/notifications/providers/{}",
        "/api/v1/notifications/channels/{}",
        "/api/v1/notifications/channels/{}/test",
        "/api/v1/notifications/channels/{}/deliveries",
        "/api/v1/notifications/subscriptions/{}",
        "/api/v1/projects/web/subscriptions/{}",
    ]
    for template in templates:
        for name in HOSTILE_PATHS:
            for method in ("GET", "POST", "PATCH", "DELETE"):
                answers.append(await http.request(method, template.format(name), json={}))
    for query in ("limit=1e3", "limit=%00", "before=%00", "before=" + "9" * 400, "limit=-0"):
        answers.append(await http.get(f"/api/v1/notifications/channels/team/deliveries?{query}"))
    for response in answers:
        where = f"{response.request.method} {response.request.url}"
        assert response.status_code < 500, (where, response.text)
        if response.status_code >= 400:
            assert response.json()["error"]["code"], where
    # Nothing the sweep sent changed what was configured.
    names = [
        p["name"] for p in (await http.get("/api/v1/notifications/providers")).json()["providers"]
    ]
    assert names == ["hooks", "mail"]
