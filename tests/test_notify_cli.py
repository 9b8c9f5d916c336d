"""`capstan notify`, run as real processes against a real server: providers, channels (a test
message reaches a real HTTP service), subscriptions; secret values only ever from stdin;
`--json` parsed; exit statuses a script can rely on."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Capstan, running_capstan
from test_access import add_user
from test_cli import capstan_cli, run_cli
from test_notify_api import sink

from app.cli.main import main
from app.settings import Settings

OK, ERROR, USAGE, NOT_FOUND, CONFLICT, DENIED = 0, 1, 2, 3, 4, 5
SIGNING = "cli-signing-secret-1"
PASSWORD = "cli-smtp-password-2"


@pytest.fixture
async def open_capstan(settings: Settings) -> AsyncIterator[Capstan]:
    """A Capstan whose channels may reach loopback (CAPSTAN_NOTIFY_ALLOW_PRIVATE=1)."""
    allowed = dataclasses.replace(settings, notify_allow_private=True)
    async with running_capstan(allowed) as running:
        yield running


async def notify(capstan: Capstan, *args: str, stdin: str = "", token: str | None = None) -> Any:
    """`capstan notify ARGS --json`, which must succeed: its JSON."""
    code, out, err = await capstan_cli(capstan, "notify", *args, "--json", stdin=stdin, token=token)
    assert code == OK, err
    return json.loads(out)


async def test_providers_and_channels_are_added_tested_listed_and_removed(
    open_capstan: Capstan,
) -> None:
    capstan = open_capstan
    hooks = await notify(
        capstan,
        "providers",
        "add",
        "hooks",
        "--kind",
        "webhook",
        "--secret",
        "signing_secret",
        stdin=SIGNING + "\n",
    )
    assert hooks["secrets"] == ["signing_secret"] and hooks["settings"] == {}
    mail = await notify(
        capstan,
        "providers",
        "add",
        "mail",
        "--kind",
        "email",
        "--set",
        "host=127.0.0.1",
        "--set",
        "port=2525",
        "--set",
        "sender=capstan@example.com",
        "--secret",
        "password",
        stdin=PASSWORD,
    )
    assert mail["settings"] == {"host": "127.0.0.1", "port": 2525, "sender": "capstan@example.com"}
    assert mail["secrets"] == ["password"]
    code, _, err = await capstan_cli(
        capstan,
        "notify",
        "providers",
        "add",
        "leak",
        "--kind",
        "email",
        "--set",
        f"password={PASSWORD}",
    )
    assert code == USAGE and "--secret password" in err
    code, _, err = await capstan_cli(
        capstan,
        "notify",
        "providers",
        "add",
        "mail",
        "--kind",
        "email",
        "--set",
        "host=127.0.0.1",
        "--set",
        "sender=c@example.com",
    )
    assert code == CONFLICT and "provider_exists" in err
    code, _, err = await capstan_cli(capstan, "notify", "providers", "add", "x", "--kind", "pigeon")
    assert code == ERROR and "kind" in err
    # Several secrets: one line of stdin each, in order (this kind takes only one of them).
    code, _, err = await capstan_cli(
        capstan,
        "notify",
        "providers",
        "add",
        "two",
        "--kind",
        "webhook",
        "--secret",
        "signing_secret",
        "--secret",
        "password",
        stdin="a-key\nsecond\n",
    )
    assert code == ERROR and "'password'" in err
    code, out, _ = await capstan_cli(capstan, "notify", "providers")
    assert code == OK and out.split()[0] == "hooks" and "port=2525" in out
    assert SIGNING not in out and PASSWORD not in out

    async with sink() as box:
        url = f"{box.url}/hook-token"
        ops = await notify(
            capstan,
            "channels",
            "add",
            "ops",
            "--provider",
            "hooks",
            "--secret",
            "url",
            stdin=url + "\n",
        )
        assert ops["secrets"] == ["url"] and ops["kind"] == "webhook"
        team = await notify(
            capstan,
            "channels",
            "add",
            "team",
            "--provider",
            "mail",
            "--to",
            "a@example.com",
            "--to",
            "b@example.com",
            "--timeout",
            "5",
        )
        assert team["target"] == {"to": ["a@example.com", "b@example.com"]}
        assert team["timeout"] == 5
        code, out, err = await capstan_cli(capstan, "notify", "channels", "test", "ops")
        assert code == OK, err
        delivery = out.strip()
        deadline = time.monotonic() + 30
        while (log := await notify(capstan, "channels", "log", "ops"))["deliveries"][0][
            "status"
        ] != "sent":
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.1)
        assert log["deliveries"][0]["id"] == delivery
        assert b"Test notification from Capstan" in box.bodies[0]
    code, out, _ = await capstan_cli(capstan, "notify", "channels", "log", "ops", "--limit", "1")
    assert code == OK and delivery in out and "sent" in out
    code, out, _ = await capstan_cli(capstan, "notify", "channels")
    assert code == OK and "ops" in out and "healthy" in out and "hook-token" not in out
    code, _, err = await capstan_cli(capstan, "notify", "channels", "test", "nope")
    assert code == NOT_FOUND and "channel_not_found" in err

    assert await notify(capstan, "channels", "rm", "team") == {"deleted": "team"}
    code, _, _ = await capstan_cli(capstan, "notify", "channels", "rm", "team")
    assert code == NOT_FOUND
    assert await notify(capstan, "providers", "rm", "hooks") == {"deleted": "hooks"}
    assert (await notify(capstan, "channels"))["channels"] == []
    names = [p["name"] for p in (await notify(capstan, "providers", "ls"))["providers"]]
    assert names == ["mail"]


async def test_subscriptions_of_a_project_and_of_every_project(capstan: Capstan) -> None:
    await capstan.create_project()
    await notify(
        capstan,
        "providers",
        "add",
        "hooks",
        "--kind",
        "webhook",
        "--secret",
        "signing_secret",
        stdin=SIGNING,
    )
    await notify(
        capstan,
        "channels",
        "add",
        "ops",
        "--provider",
        "hooks",
        "--secret",
        "url",
        stdin="https://93.184.215.14/hook",
    )
    sub = await notify(capstan, "subscribe", "web", "ops", "--events", "succeeded,failed")
    assert (sub["project"], sub["channel"], sub["events"]) == (
        "web",
        "ops",
        ["failed", "succeeded"],
    )
    code, _, err = await capstan_cli(
        capstan, "notify", "subscribe", "web", "ops", "--events", "failed"
    )
    assert code == CONFLICT and "already_subscribed" in err
    code, _, err = await capstan_cli(
        capstan, "notify", "subscribe", "web", "ops", "--events", "outage"
    )
    assert code == ERROR and "all-projects" in err
    every = await notify(capstan, "subscribe", "--all-projects", "ops", "--events", "outage")
    assert every["project"] is None
    code, _, err = await capstan_cli(capstan, "notify", "subscribe", "web", "--events", "failed")
    assert code == USAGE and "--all-projects" in err

    listed = await notify(capstan, "subscriptions", "web")
    assert [s["id"] for s in listed["subscriptions"]] == [sub["id"]]
    code, out, _ = await capstan_cli(capstan, "notify", "subscriptions")
    assert code == OK and sub["id"] in out and every["id"] in out and "failed,succeeded" in out

    member = await add_user(capstan, "member", "developer")
    outsider = await add_user(capstan, "outsider", "developer")
    put = await capstan.http.put("/api/v1/projects/web/members/member", json={"role": "member"})
    assert put.status_code == 200
    tokens = {}
    for name, client in (("member", member), ("outsider", outsider)):
        tokens[name] = client.headers["Authorization"].removeprefix("Bearer ")
        await client.aclose()
    seen = await notify(capstan, "subscriptions", "web", token=tokens["member"])
    assert len(seen["subscriptions"]) == 1
    for token, expected in ((tokens["member"], DENIED), (tokens["outsider"], NOT_FOUND)):
        code, _, err = await capstan_cli(
            capstan, "notify", "unsubscribe", "web", sub["id"], token=token
        )
        assert code == expected, err
    code, _, _ = await capstan_cli(capstan, "notify", "subscriptions", token=tokens["member"])
    assert code == DENIED

    assert await notify(capstan, "unsubscribe", "web", sub["id"]) == {"deleted": sub["id"]}
    code, _, err = await capstan_cli(capstan, "notify", "unsubscribe", "web", sub["id"])
    assert code == NOT_FOUND and "subscription_not_found" in err
    gone = await notify(capstan, "unsubscribe", "--all-projects", every["id"])
    assert gone == {"deleted": every["id"]}
    assert (await notify(capstan, "subscriptions"))["subscriptions"] == []


def test_every_level_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ("notify",),
        ("notify", "providers"),
        ("notify", "providers", "add"),
        ("notify", "providers", "rm"),
        ("notify", "channels"),
        ("notify", "channels", "add"),
        ("notify", "channels", "test"),
        ("notify", "channels", "log"),
        ("notify", "subscribe"),
        ("notify", "unsubscribe"),
        ("notify", "subscriptions"),
    ):
        with pytest.raises(SystemExit) as done:  # in-process: a subprocess each took a second
            main([*args, "--help"])
        shown = capsys.readouterr().out
        assert done.value.code == 0, args
        assert shown.startswith("usage: capstan " + " ".join(args)), shown
        if args != ("notify",):
            assert "--json" in shown, args
    bare = run_cli("notify")
    assert bare.returncode == ERROR and "providers" in bare.stdout
    assert "notify" in run_cli("--help").stdout
