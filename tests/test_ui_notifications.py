"""The notification pages in a real browser: providers and channels made through their forms,
a test message and a deployment's event delivered to a real HTTP sink on 127.0.0.1 and seen
arriving in the channel's log, the API's errors beside the form, no secret on any page, and
what viewers and managers are shown."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import RedisServer
from playwright.sync_api import Browser, Page, expect
from served import Served, serve
from ui import SCREENSHOTS, Browsing

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui_notifications")

SIGNING_SECRET = "ui-signing-SECRET-4f1d"
SINK_TOKEN = "ui-sink-TOKEN-9a7c"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/ui-SLACK-TOKEN-77e2"


@pytest.fixture(scope="module")
def ui_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Served]:
    """The UI server, allowed to send to 127.0.0.1 and retrying at once."""
    env = {"CAPSTAN_NOTIFY_ALLOW_PRIVATE": "1", "CAPSTAN_NOTIFY_RETRY_SECONDS": "0.05"}
    with serve(tmp_path_factory.mktemp("ui-notify"), redis_server.url, env=env) as served:
        yield served


class Sink:
    """An HTTP server on 127.0.0.1 that records each POST and answers 200 once `gate` is set."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.gate.wait(20)
                sink.received.append({"path": self.path, "headers": dict(self.headers),
                                      "body": json.loads(body or b"null")})  # fmt: skip
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sink() -> Iterator[Sink]:
    made = Sink()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        made.gate.set()
        made.server.shutdown()
        made.server.server_close()


def poll(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def no_secret_in(page: Page) -> None:
    content = page.content()
    for secret in (SIGNING_SECRET, SINK_TOKEN, "ui-SLACK-TOKEN-77e2"):
        assert secret not in content, (page.url, secret)


def test_an_admin_sets_up_a_webhook_and_sees_a_test_and_a_deployment_delivered(
    browsing: Browsing, sink: Sink
) -> None:
    api = browsing.api
    made = api.post("/api/v1/notifications/providers", json={"name": "ui-slack", "kind": "slack"})
    assert made.status_code == 201, made.text
    slack = {"name": "ui-slack-ops", "provider": "ui-slack", "target": {"url": SLACK_URL}}
    assert api.post("/api/v1/notifications/channels", json=slack).status_code == 201
    browsing.project("ui-n-web")

    page = browsing.sign_in()
    page.click("nav >> text=Notifications")
    expect(page.locator("h1")).to_have_text("Notifications")
    page.get_by_role("link", name="Webhook (signed JSON)").click()
    form = page.locator("#new-provider form")
    form.locator("input[name=name]").fill("ui-hooks")
    form.locator("textarea").fill(json.dumps({"signing_secret": SIGNING_SECRET}))
    form.get_by_role("button", name="Add provider").click()
    expect(page.locator(".flash.notice")).to_contain_text("Provider added")
    provider = page.locator("#provider-ui-hooks")
    expect(provider.locator("dl.settings")).to_contain_text("signing_secret")
    expect(provider.locator("dl.settings")).to_contain_text("set")

    # The API's errors beside the form, the values kept (but never a secret one).
    provider.locator("summary", has_text="Add a channel").click()
    adding = page.locator("#new-channel-ui-hooks form")
    adding.locator("input[name=name]").fill("Ops-Sink")
    adding.locator("textarea").fill(json.dumps({"url": "ftp://127.0.0.1/x"}))
    adding.locator("input[name='timeout:json']").fill("5")
    adding.get_by_role("button", name="Add channel").click()
    expect(page.locator("#new-channel-ui-hooks .field-error")).to_contain_text("name must match")
    expect(adding.locator("input[name=name]")).to_have_value("Ops-Sink")
    expect(adding.locator("input[name=name]")).to_have_attribute("aria-invalid", "true")
    expect(adding.locator("input[name='timeout:json']")).to_have_value("5")
    adding.locator("input[name=name]").fill("ui-sink")
    adding.locator("textarea").fill(json.dumps({"url": "ftp://127.0.0.1/x"}))
    adding.get_by_role("button", name="Add channel").click()
    expect(page.locator("#new-channel-ui-hooks .field-error")).to_contain_text(
        "http:// or https://"
    )
    expect(adding.locator("input[name=name]")).to_have_value("ui-sink")
    expect(adding.locator("textarea")).not_to_contain_text("ftp://")  # a secret field: blanked
    browsing.screenshot("notifications-error")
    adding.locator("textarea").fill(json.dumps({"url": f"{sink.url}/hook?token={SINK_TOKEN}"}))
    adding.get_by_role("button", name="Add channel").click()
    row = page.locator("#channel-ui-sink")
    expect(row).to_contain_text("healthy")
    expect(row).to_contain_text("url")
    no_secret_in(page)
    browsing.screenshot("notifications")

    # A test message, seen pending and then delivered without a reload.
    sink.gate.clear()
    row.get_by_role("button", name="Send test").click()
    expect(page.locator("h1")).to_contain_text("ui-sink")
    log = page.locator("#delivery-log")
    expect(log.locator("tbody tr").first).to_contain_text("pending")
    page.evaluate("window.notReloaded = true")
    sink.gate.set()
    expect(log.locator("tbody tr").first).to_contain_text("sent")
    expect(log.locator("tbody tr").first).to_contain_text("200")
    expect(log).not_to_contain_text("refreshing")
    assert page.evaluate("window.notReloaded") is True
    assert sink.received[0]["path"] == f"/hook?token={SINK_TOKEN}"
    assert sink.received[0]["headers"]["X-Capstan-Signature"]
    no_secret_in(page)
    browsing.screenshot("notifications-channel")

    # The project subscribes to `succeeded`; a deployment's success arrives.
    page.goto(browsing.url + "/projects/ui-n-web/notifications")
    subscribe = page.locator("#subscribe form")
    subscribe.locator("select[name=channel]").select_option("ui-sink")
    subscribe.locator("input[value=failed]").uncheck()
    expect(subscribe.locator("input[value=outage]")).to_have_count(0)  # all-projects only
    subscribe.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".flash.notice")).to_have_text("Subscribed.")
    subscription = page.locator("table.subscriptions tbody tr", has_text="ui-sink")
    expect(subscription).to_contain_text("succeeded")
    expect(subscription).not_to_contain_text("failed")
    browsing.screenshot("project-notifications")
    subscribe.locator("select[name=channel]").select_option("ui-sink")
    subscribe.get_by_role("button", name="Subscribe").click()  # ui-sink again: refused, inline
    expect(page.locator("#subscribe .field-error")).to_contain_text("subscribed already")

    deployment = api.post("/api/v1/projects/ui-n-web/deployments", json={}).json()
    poll(lambda: api.get(f"/api/v1/deployments/{deployment['id']}").json()["status"] == "COMPLETED")
    page.goto(browsing.url + "/notifications/channels/ui-sink")
    delivered = log.locator("tbody tr", has_text="ui-n-web")
    expect(delivered).to_contain_text("succeeded")
    expect(delivered).to_contain_text("sent", timeout=15_000)
    assert [r["body"]["event"] for r in sink.received if r["body"]["project"]] == ["succeeded"]


def test_viewers_and_managers_see_only_what_they_may_change(browsing: Browsing) -> None:
    api = browsing.api
    api.post("/api/v1/notifications/providers", json={"name": "ui-v-slack", "kind": "slack"})
    channel = {"name": "ui-v-ops", "provider": "ui-v-slack", "target": {"url": SLACK_URL}}
    assert api.post("/api/v1/notifications/channels", json=channel).status_code == 201
    browsing.project("ui-v-web")
    events = {"channel": "ui-v-ops", "events": ["failed"]}
    assert api.post("/api/v1/projects/ui-v-web/subscriptions", json=events).status_code == 201
    password = browsing.user("ui-n-viewer", "viewer")
    browsing.user("ui-n-manager", "manager", password)

    page = browsing.sign_in("ui-n-viewer", password)
    nav = page.locator("nav[aria-label=main]")
    expect(nav.get_by_role("link", name="Notifications")).to_have_count(0)
    for path in ("/notifications", "/notifications/channels/ui-v-ops"):
        answer = page.request.get(browsing.url + path)
        assert answer.status == 403 and answer.headers["content-type"].startswith("text/html")
        assert re.search(r"<h1>403", answer.text())
    polled = page.request.get(browsing.url + "/notifications/channels/ui-v-ops/log",
                              headers={"HX-Request": "true"})  # fmt: skip
    assert polled.headers.get("hx-refresh") == "true"
    page.goto(browsing.url + "/projects/ui-v-web/notifications")
    expect(page.locator("table.subscriptions")).to_contain_text("ui-v-ops")
    expect(page.locator("table.subscriptions")).to_contain_text("failed")
    expect(page.locator("main form")).to_have_count(0)
    expect(page.locator("main details")).to_have_count(0)
    no_secret_in(page)

    browsing.context.clear_cookies()
    page = browsing.sign_in("ui-n-manager", password)
    page.click("nav >> text=Notifications")
    expect(page.locator("#channel-ui-v-ops")).to_contain_text("healthy")
    expect(page.locator("#new-provider")).to_be_visible()
    expect(page.locator("#subscriptions, #subscribe")).to_have_count(0)  # admins only
    no_secret_in(page)


def test_without_javascript_an_admin_subscribes_every_project_and_removes_it(
    browser: Browser, ui_server: Served, browsing: Browsing
) -> None:
    api = browsing.api
    api.post("/api/v1/notifications/providers", json={"name": "ui-j-slack", "kind": "slack"})
    channel = {"name": "ui-j-ops", "provider": "ui-j-slack", "target": {"url": SLACK_URL}}
    assert api.post("/api/v1/notifications/channels", json=channel).status_code == 201
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    password = (ui_server.data_dir / "initial-admin-password").read_text().strip()
    page.goto(ui_server.url + "/notifications")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    subscribe = page.locator("#subscribe form")
    subscribe.locator("select[name=channel]").select_option("ui-j-ops")
    for event in ("succeeded", "failed"):
        subscribe.locator(f"input[value={event}]").uncheck()
    subscribe.locator("input[value=outage]").check()
    subscribe.locator("input[value=recovered]").check()
    subscribe.get_by_role("button", name="Subscribe").click()
    row = page.locator("table.subscriptions tbody tr", has_text="ui-j-ops")
    expect(row).to_contain_text("all projects")
    expect(row).to_contain_text("outage")
    expect(row).to_contain_text("recovered")
    found = api.get("/api/v1/notifications/subscriptions").json()["subscriptions"]
    assert [s["events"] for s in found if s["channel"] == "ui-j-ops"] == [["outage", "recovered"]]
    row.locator("summary", has_text="Remove").click()
    row.get_by_role("button", name="Yes, remove").click()
    expect(page.locator(".flash.notice")).to_have_text("ui-j-ops unsubscribed.")
    expect(page.locator("table.subscriptions tbody tr", has_text="ui-j-ops")).to_have_count(0)
    context.close()


def test_the_notification_pages_fit_a_phone_in_the_dark(browsing: Browsing) -> None:
    api = browsing.api
    settings = {"host": "smtp.example.com", "port": 587, "security": "starttls",
                "username": "capstan", "password": "ui-mail-password",
                "sender": "ci@example.com"}  # fmt: skip
    api.post("/api/v1/notifications/providers",
             json={"name": "ui-p-mail", "kind": "email", "settings": settings})  # fmt: skip
    channel = {"name": "ui-p-oncall", "provider": "ui-p-mail",
               "target": {"to": ["oncall@example.com", "lead@example.com"]}}  # fmt: skip
    assert api.post("/api/v1/notifications/channels", json=channel).status_code == 201
    browsing.project("ui-p-web")
    browsing.sign_in()
    browsing.page.set_viewport_size({"width": 390, "height": 844})
    browsing.page.emulate_media(color_scheme="dark")
    for path in ("/notifications?new=email", "/notifications/channels/ui-p-oncall",
                 "/projects/ui-p-web/notifications"):  # fmt: skip
        page = browsing.goto(path)
        assert "ui-mail-password" not in page.content()
        width = page.evaluate("document.documentElement.scrollWidth")
        name = re.sub(r"[^a-z0-9]+", "-", path).strip("-")
        page.screenshot(path=str(SCREENSHOTS / f"phone-{name}.png"), full_page=True)
        assert width <= 390, (path, width)
