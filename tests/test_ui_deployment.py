"""The deployment page in a real browser: the live log (in order, stage markers, ANSI colours,
resumed across a server restart without a hole or a repeat, a long log opened at its end),
the buttons only for who may press them, and no secret on the page."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RedisServer, free_port
from playwright.sync_api import Browser, Dialog, Page, expect
from served import serve
from ui import SCREENSHOTS, Browsing

from app.cli.client import sse_events

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui_deployment")

CURSORS = "els => els.map(e => Number(e.dataset.cursor))"
LINE_TEXTS = "els => els.map(e => e.textContent)"


def trigger(api: httpx.Client, project: str) -> dict[str, Any]:
    answer = api.post(f"/api/v1/projects/{project}/deployments", json={})
    assert answer.status_code == 202, answer.text
    dep: dict[str, Any] = answer.json()
    return dep


def wait_until(api: httpx.Client, dep_id: str, *, gate: bool = False, timeout: float = 30) -> None:
    """Poll the API until the deployment has finished (or, with `gate`, waits at one)."""
    deadline = time.monotonic() + timeout
    while True:
        dep = api.get(f"/api/v1/deployments/{dep_id}").json()
        stage = dep["stages"][dep["stage_index"]] if dep["current_stage"] else {}
        if gate and stage.get("status") == "awaiting_approval":
            return
        if not gate and dep["status"] in ("COMPLETED", "FAILED", "CANCELLED", "ROLLED_BACK"):
            return
        assert time.monotonic() < deadline, f"deployment stuck: {dep}"
        time.sleep(0.05)


def stored_cursors(api: httpx.Client, dep_id: str) -> list[int]:
    """Every cursor of the stored log, from the API."""
    headers = {"Accept": "text/event-stream"}
    answer = api.get(f"/api/v1/deployments/{dep_id}/logs?follow=0", headers=headers)
    return [int(e[2]) for e in sse_events(iter(answer.text.splitlines())) if e[2]]


def shown_cursors(page: Page) -> list[int]:
    cursors: list[int] = page.eval_on_selector_all(".log-lines [data-cursor]", CURSORS)
    return cursors


def phone(page: Page, name: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


# A screenful of lines at once, then coloured ones slowly.
TICK = (
    "seq 1 200; for i in $(seq 1 30); do "
    "printf '\\033[1;32mok\\033[0m line %d\\n' $i; sleep 0.3; done"
)
# 256 colours and truecolour (to the nearest of the 16), underline, an erase (dropped), a bell.
COLOURS = (
    "\\033[38;5;208morange\\033[0m \\033[38;2;255;0;0mred\\033[0m "
    "\\033[4munder\\033[24m \\033[2Kgone\\a\\n"
)
SCROLLER = "document.querySelector('.log-scroll')"
OK_LINES = (
    "[...document.querySelectorAll('.log-lines .line')]"
    ".filter(e => / line /.test(e.textContent)).length"
)


def test_the_log_arrives_live_and_approving_finishes_without_a_reload(browsing: Browsing) -> None:
    stages = [{"name": "build", "run": TICK}, {"name": "gate", "approval": True},
              {"name": "release", "run": f"echo released; printf '{COLOURS}'"}]  # fmt: skip
    browsing.project("live", stages=stages)
    page = browsing.sign_in()
    dep = trigger(browsing.api, "live")
    page.goto(f"{browsing.url}/deployments/{dep['id']}")
    page.evaluate("window.marker = 'not reloaded'")
    page.wait_for_function(f"() => {OK_LINES} > 0 && {OK_LINES} < 20", timeout=15_000)
    # Scrolled up, the reader stays where they are while lines arrive; "Jump to live" returns.
    # (Hover and wheel again if the summary above, refreshed live, moved the log meanwhile.)
    for _ in range(20):
        page.hover(".log-scroll")
        page.mouse.wheel(0, -20_000)
        if page.evaluate(f"{SCROLLER}.scrollTop") == 0:
            break
        page.wait_for_timeout(200)
    page.wait_for_function(f"() => {SCROLLER}.scrollTop === 0")
    seen = page.evaluate(f"() => {OK_LINES}")
    page.wait_for_function(f"() => {OK_LINES} > {seen}")
    expect(page.locator(".log-live")).to_be_visible()
    assert page.evaluate(f"{SCROLLER}.scrollTop") == 0
    page.click(".log-live")
    at_bottom = f"(s => s.scrollHeight - s.scrollTop - s.clientHeight < 40)({SCROLLER})"
    page.wait_for_function(f"() => {at_bottom}")
    expect(page.locator(".log-live")).to_be_hidden()
    expect(page.locator(".log-lines .line", has_text="line 30")).to_have_count(1, timeout=15_000)
    texts = page.eval_on_selector_all(".log-lines .line", LINE_TEXTS)
    assert texts[:200] == [str(i) for i in range(1, 201)]
    assert texts[200:] == [f"ok line {i}" for i in range(1, 31)]
    assert page.evaluate(f"() => {at_bottom}"), "following again, the view keeps to the end"
    colour = page.locator(".log-lines .line span.ansi-fg-2.ansi-bold").first
    expect(colour).to_have_text("ok")
    expect(page.locator(".log-lines .mark-start").first).to_contain_text("build")
    approve = page.locator("#summary button", has_text="Approve")
    expect(approve).to_be_visible(timeout=15_000)
    expect(page.locator(".log-lines .mark-start", has_text="gate")).to_have_count(1)
    browsing.screenshot("deployment-gate")
    phone(page, "deployment-gate-phone")
    approve.click()
    expect(page.locator("#deployment-status")).to_have_text("COMPLETED", timeout=20_000)
    expect(page.locator(".log-lines .line", has_text="released")).to_have_count(1)
    coloured = page.locator(".log-lines .line", has_text="orange")
    expect(coloured).to_have_text("orange red under gone\\x07")
    expect(coloured.locator(".ansi-fg-9")).to_have_text("orange")
    expect(coloured.locator(".ansi-fg-1")).to_have_text("red")
    expect(coloured.locator(".ansi-underline")).to_have_text("under")
    expect(page.locator(".log-state")).to_have_text("Finished: COMPLETED")
    assert page.evaluate("window.marker") == "not reloaded"
    expect(page.locator(".run-stages .run-stage.succeeded")).to_have_count(3)
    expect(page.locator(".run-stages")).to_contain_text("approved by admin")
    marks = page.eval_on_selector_all(".log-lines .mark-start", LINE_TEXTS)
    assert [m.split()[1] for m in marks] == ["build", "gate", "release"]
    assert shown_cursors(page) == stored_cursors(browsing.api, dep["id"])
    expect(page.locator("#summary form")).to_have_count(0)
    assert page.get_attribute("#summary", "hx-trigger") is None, "a finished page stops polling"
    browsing.screenshot("deployment-completed")


def test_a_viewer_sees_no_buttons_and_a_forged_form_changes_nothing(browsing: Browsing) -> None:
    browsing.project("gated", stages=[{"name": "gate", "approval": True},
                                      {"name": "after", "run": "echo after"}])  # fmt: skip
    dep = trigger(browsing.api, "gated")
    wait_until(browsing.api, dep["id"], gate=True)
    password = browsing.user("v", "viewer")
    page = browsing.sign_in("v", password)
    page.goto(f"{browsing.url}/deployments/{dep['id']}")
    expect(page.locator("#deployment-status")).to_have_text("IN_PROGRESS")
    expect(page.locator("#summary .hint")).to_contain_text("Waiting for someone allowed")
    expect(page.locator("#summary form")).to_have_count(0)
    for label in ("Approve", "Cancel", "Roll back"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    browsing.screenshot("deployment-viewer")
    for missing in ("/deployments/nope", f"/deployments/{uuid.uuid4()}/summary"):
        opened = page.goto(browsing.url + missing)
        assert opened is not None and opened.status == 404
        expect(page.locator("h1")).to_contain_text("404")
    page.goto(f"{browsing.url}/deployments/{dep['id']}")
    # Leaving the page (hx-boost swaps the body) closes its log stream.
    page.evaluate("""() => {
        window.streams = [];
        const Source = window.EventSource;
        window.EventSource = function (url, options) {
            const source = new Source(url, options);
            window.streams.push(source);
            return source;
        };
        window.EventSource.CLOSED = Source.CLOSED;
        for (const el of document.querySelectorAll("[data-log]")) {
            window.streams.push(el.logView.source);
        }
    }""")
    page.click("nav >> text=Dashboard")
    expect(page.locator("h1")).to_have_text("Projects")
    logs = f"/api/v1/deployments/{dep['id']}/logs"
    states = page.evaluate(
        "(logs) => window.streams.filter((s) => new URL(s.url).pathname === logs)"
        ".map((s) => s.readyState)",
        logs,
    )
    assert states and set(states) == {2}, states  # every stream of this log is CLOSED
    here = f"{browsing.url}/deployments/{dep['id']}"
    with httpx.Client(base_url=browsing.url, headers={"Origin": browsing.url}) as http:
        signed = http.post("/login", data={"username": "v", "password": password})
        assert signed.status_code == 303 and http.cookies
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', http.get(here).text)
        assert csrf
        for action in ("approve", "cancel", "rollback"):
            form = {"_csrf": csrf.group(1), "_next": f"/deployments/{dep['id']}"}
            answer = http.post(f"/api/v1/deployments/{dep['id']}/{action}", data=form,
                               headers={"Referer": here})  # fmt: skip
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/deployments/{dep['id']}"
            shown = http.get(here).text
            assert "your role may not do this" in shown, action
    after = browsing.api.get(f"/api/v1/deployments/{dep['id']}").json()
    assert after["status"] == "IN_PROGRESS"
    assert after["stages"][0]["status"] == "awaiting_approval"
    assert "approved_by" not in str(after)
    # The admin may: Cancel asks first, then stops it, and the page follows.
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login"))  # signed out before signing in again
    page = browsing.sign_in()
    page.goto(here)
    expect(page.locator("#summary button")).to_have_text(["Approve", "Cancel", "Roll back"])
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.click("#summary button:has-text('Cancel')")
    expect(page.locator("#deployment-status")).to_have_text("CANCELLED", timeout=20_000)
    assert asked and asked[0].startswith("Cancel deployment #")
    expect(page.locator("#summary .flash.notice")).to_have_text("Cancelled.")
    expect(page.locator("#summary .flash.reason")).to_have_text("cancelled by admin")
    browsing.screenshot("deployment-cancelled")
    expect(page.locator("#summary form")).to_have_count(0)


SECRET = "hunter2-Sekrit-9f8e7d6c"
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def test_a_secret_a_stage_prints_never_reaches_the_page(
    browsing: Browsing, browser: Browser
) -> None:
    run = (f'echo "token=$API_TOKEN"; printf "\\033[31m%s\\033[0m\\n" "$API_TOKEN"; '
           f"echo '{HOSTILE}'; echo end")  # fmt: skip
    browsing.project("secretive", stages=[{"name": "leak", "run": run}])
    put = browsing.api.put("/api/v1/projects/secretive/secrets/API_TOKEN", json={"value": SECRET})
    assert put.status_code == 204, put.text
    dep = trigger(browsing.api, "secretive")
    wait_until(browsing.api, dep["id"])
    here = f"/deployments/{dep['id']}"
    page = browsing.sign_in()
    page.goto(browsing.url + here)
    expect(page.locator(".log-lines .line", has_text="end")).to_have_count(1)
    expect(page.locator(".log-lines .line", has_text="token=")).to_have_count(1)
    expect(page.locator(".log-lines .line", has_text=HOSTILE)).to_have_count(1)
    expect(page.locator(".log-lines img, .log-lines script")).to_have_count(0)
    assert SECRET not in page.content()
    assert SECRET not in page.request.get(f"{browsing.url}{here}/summary").text()
    # Without JavaScript: the stored log as plain text, masked and escaped.
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(browsing.url + "/login?next=" + here)
        plain.fill("input[name=username]", "admin")
        plain.fill("input[name=password]", (browsing.server.data_dir / "initial-admin-password")
                   .read_text().strip())  # fmt: skip
        plain.click("button[type=submit]")
        expect(plain.locator(".log-static")).to_contain_text("token=")
        expect(plain.locator(".log-static")).to_contain_text(HOSTILE)
        expect(plain.locator("#deployment-status")).to_have_text("COMPLETED")
        assert SECRET not in plain.content()
        browsing.screenshot("deployment-no-javascript", plain)
    finally:
        context.close()


def test_a_long_log_stays_bounded_live_and_opens_at_its_end(browsing: Browsing) -> None:
    browsing.project("long", stages=[{"name": "flood", "run": "sleep 1; seq 1 200000"}])
    page = browsing.sign_in()
    dep = trigger(browsing.api, "long")
    # Live: 200,000 lines stream in; the page keeps the newest 5,000 rows and says so.
    page.goto(f"{browsing.url}/deployments/{dep['id']}")
    expect(page.locator(".log-state")).to_have_text("Finished: COMPLETED", timeout=60_000)
    expect(page.locator(".log-lines .line").last).to_have_text("200000")
    live = shown_cursors(page)
    assert len(live) == 5000 and live == list(range(live[0], live[0] + 5000))
    expect(page.locator(".log-head")).to_contain_text(f"Lines before #{live[0]}")
    # Opened again, finished: the tail at once, and earlier chunks on demand.
    started = time.monotonic()
    page.goto(f"{browsing.url}/deployments/{dep['id']}")
    expect(page.locator(".log-lines .line").last).to_have_text("200000")
    opened = time.monotonic() - started
    assert opened < 5, f"the tail took {opened:.1f} s"
    tail = shown_cursors(page)
    assert len(tail) == 1000 and tail == list(range(tail[0], tail[0] + 1000))
    expect(page.locator(".log-head")).to_contain_text(f"Lines before #{tail[0]}")
    browsing.screenshot("deployment-long")
    phone(page, "deployment-long-phone")
    page.click("button.log-earlier")
    expect(page.locator(".log-lines [data-cursor]")).to_have_count(2000)
    more = shown_cursors(page)
    assert more == list(range(tail[0] - 1000, tail[-1] + 1))
    page.fill(".log-filter", "19999")
    expect(page.locator(".log-count")).to_have_text("10 matching")
    visible = page.locator(".log-lines .line:visible")
    expect(visible).to_have_count(10)
    browsing.screenshot("deployment-long-filtered")


def sign_in(page: Page, url: str, data_dir: Path) -> None:
    password = (data_dir / "initial-admin-password").read_text().strip()
    page.goto(url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


# Slow the first time (the server stops while it runs, however loaded the machine), quick
# when the restarted server runs the stage again.
SLOW = (
    'pause=0.05; if [ ! -e "$CAPSTAN_CACHE_DIR/ran" ]; then touch "$CAPSTAN_CACHE_DIR/ran"; '
    "pause=0.5; fi; for i in $(seq 1 40); do echo n $i; sleep $pause; done"
)


def test_the_log_survives_a_server_restart_without_holes_or_repeats(
    browser: Browser, redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    # Its own Redis database: the module's server shares the queue of database 0, and its
    # worker would take (and drop) this server's re-queued job.
    redis_url = redis_server.url.rpartition("/")[0] + "/1"
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        with serve(tmp_path, redis_url, port=port) as first:
            headers = {"Authorization": f"Bearer {first.admin_token()}"}
            api = httpx.Client(base_url=first.url, headers=headers, timeout=30)
            project = {"name": "slow", "stages": [{"name": "count", "run": SLOW}]}
            made = api.post("/api/v1/projects", json=project)
            assert made.status_code == 201, made.text
            dep = trigger(api, "slow")
            sign_in(page, first.url, first.data_dir)
            page.goto(f"{first.url}/deployments/{dep['id']}")
            expect(page.locator(".log-lines .line", has_text="n 5")).to_have_count(
                1, timeout=15_000
            )
        expect(page.locator(".log-state")).to_contain_text("reconnecting")
        with serve(tmp_path, redis_url, port=port):
            state = page.locator(".log-state")
            expect(state).to_have_text(re.compile("Finished"), timeout=60_000)
            cursors = shown_cursors(page)
            assert cursors == stored_cursors(api, dep["id"])
            assert cursors == list(range(1, len(cursors) + 1))
            texts = page.eval_on_selector_all(".log-lines .line", LINE_TEXTS)
            assert "n 40" in texts and "n 1" in texts
            expect(page.locator("#deployment-status")).to_have_text("COMPLETED")
            api.close()
    finally:
        context.close()
    assert not errors, errors
