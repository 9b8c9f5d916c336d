"""The admin pages in a real browser: users, API tokens, the queue board, the audit trail, and
what non-admins are refused."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import Repo
from playwright.sync_api import Browser, Page, expect
from served import Served
from ui import SCREENSHOTS, Browsing

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui_admin")


def poll(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def user_of(browsing: Browsing, username: str) -> tuple[str, bool] | None:
    """The user's role and disabled flag, as the API tells them."""
    for user in browsing.api.get("/api/v1/users").json()["users"]:
        if user["username"] == username:
            return user["role"], user["disabled"]
    return None


def confirm(page: Page, scope: Any, summary: str, button: str) -> None:
    """Open a confirmation step and confirm it."""
    scope.locator("summary", has_text=summary).click()
    scope.get_by_role("button", name=button).click()


def test_an_admin_creates_changes_disables_and_deletes_a_user(browsing: Browsing) -> None:
    page = browsing.sign_in()
    page.click("nav >> text=Users")
    expect(page.locator("h1")).to_have_text("Users")
    form = page.locator("#new form")
    form.locator("input[name=username]").fill("ui-alice")
    form.locator("select[name=role]").select_option("developer")
    form.locator("input[name=password]").fill("short")
    form.locator("input[name=password]").evaluate("el => el.removeAttribute('minlength')")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("#new .field-error")).to_contain_text("password")
    expect(form.locator("input[name=username]")).to_have_value("ui-alice")
    form.locator("input[name=password]").fill("a-long-unusual-passphrase-7")
    form.get_by_role("button", name="Create user").click()
    row = page.locator("#user-ui-alice")
    expect(row).to_contain_text("active")
    expect(page.locator(".flash.notice")).to_have_text("User created.")

    row.locator("select[name=role]").select_option("manager")
    row.get_by_role("button", name="Change role").click()
    expect(row.locator("select[name=role]")).to_have_value("manager")
    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".state")).to_have_text("disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()
    assert user_of(browsing, "ui-alice") == ("manager", True)

    admin = page.locator("#user-admin")
    admin.locator("select[name=role]").select_option("viewer")
    admin.get_by_role("button", name="Change role").click()
    expect(admin.locator(".field-error")).to_have_text("Capstan needs at least one active admin")
    expect(page.locator("main > .flash.error")).to_have_count(0)
    expect(admin.locator("select[name=role]")).to_have_value("admin")
    browsing.screenshot("users")

    confirm(page, row, "Delete", "Yes, delete ui-alice")
    expect(page.locator(".flash.notice")).to_have_text("ui-alice deleted.")
    expect(page.locator("#user-ui-alice")).to_have_count(0)
    assert user_of(browsing, "ui-alice") is None


def test_a_token_is_shown_once_works_and_stops_when_revoked(browsing: Browsing) -> None:
    page = browsing.sign_in()
    page.click("nav >> text=Tokens")
    form = page.locator("#new form")
    form.locator("input[name=name]").fill("ui-script")
    form.locator("input[name='expires_in_days:int']").fill("30")
    form.get_by_role("button", name="Create token").click()
    shown = page.locator("#once-token")
    expect(shown).to_have_text(re.compile(r"^cap_"))
    token = shown.inner_text().strip()
    row = page.locator("tr", has_text="ui-script")
    expect(row).to_contain_text(token[:8])
    browsing.screenshot("tokens-created")
    page.reload()
    expect(page.locator("#once-token")).to_have_count(0)
    assert token not in page.content()

    bearer = {"Authorization": f"Bearer {token}"}
    me = httpx.get(browsing.url + "/api/v1/me", headers=bearer)
    assert me.status_code == 200 and me.json()["username"] == "admin"
    page.reload()
    expect(row).not_to_contain_text("never", timeout=5_000)  # last used: now
    confirm(page, row, "Revoke", "Yes, revoke")
    expect(page.locator(".flash.notice")).to_contain_text("ui-script revoked")
    expect(page.locator("tr", has_text="ui-script")).to_have_count(0)
    assert httpx.get(browsing.url + "/api/v1/me", headers=bearer).status_code == 401


def test_the_queue_board_follows_running_pending_and_failed_deployments(
    browsing: Browsing, repo: Repo
) -> None:
    browsing.project("ui-q-busy", stages=[{"name": "build", "run": "sleep 60"}])
    browsing.project("ui-q-bad", repo_url=repo.url,
                     stages=[{"name": "test", "run": "echo broken; exit 3"}])  # fmt: skip
    api = browsing.api
    first = api.post("/api/v1/projects/ui-q-busy/deployments", json={}).json()
    second = api.post("/api/v1/projects/ui-q-busy/deployments", json={}).json()
    bad = api.post("/api/v1/projects/ui-q-bad/deployments", json={}).json()
    poll(lambda: api.get(f"/api/v1/deployments/{first['id']}").json()["status"] == "IN_PROGRESS")

    page = browsing.sign_in()
    page.click("nav >> text=Queue")
    expect(page.locator(".counts")).to_contain_text("Redis reachable")
    expect(page.locator(".workers tbody tr")).to_have_count(1)
    busy = page.locator("#queue-ui-q-busy")
    running = busy.locator(".jobs.running .job")
    pending = busy.locator(".jobs.pending .job")
    expect(running).to_contain_text(f"#{first['seq']}")
    expect(running).to_contain_text("stage build")
    expect(running).to_contain_text("lease held by")
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text(f"#{second['seq']}")
    browsing.screenshot("queue")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SCREENSHOTS / "phone-queue-running.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate("window.notReloaded = true")

    pending.locator("summary", has_text="Cancel").click()
    with page.expect_response(re.compile(r"/queue/board$")):
        pass  # the board polls; the open confirmation survives it
    page.get_by_role("button", name=f"Yes, cancel #{second['seq']}").click()
    expect(busy.locator(".jobs.pending")).to_have_count(0)
    expect(page.locator(".flash.notice")).to_contain_text("cancelled")
    assert api.get(f"/api/v1/deployments/{second['id']}").json()["status"] == "CANCELLED"
    # Cancelled elsewhere, the running one leaves the board by itself: no reload.
    api.post(f"/api/v1/deployments/{first['id']}/cancel")
    expect(page.locator("#queue-ui-q-busy")).to_have_count(0, timeout=10_000)
    assert page.evaluate("window.notReloaded") is True

    failed = page.locator("#queue-ui-q-bad .jobs.failed .job")
    expect(failed.first).to_contain_text(f"#{bad['seq']}", timeout=15_000)
    expect(failed.first).to_contain_text("stage test")
    expect(failed.first).to_contain_text("exit")
    failed.first.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash.notice")).to_contain_text(f"#{bad['seq']} retried")
    history = api.get("/api/v1/projects/ui-q-bad/deployments").json()["deployments"]
    assert len(history) == 2 and history[0]["seq"] > bad["seq"]
    assert bad["commit"] and history[0]["commit"] == bad["commit"]
    assert history[0]["ref"] == bad["commit"]


def test_the_audit_page_lists_filters_and_verifies_the_chain(browsing: Browsing) -> None:
    browsing.user("ui-audited", "viewer")
    browsing.user("ui-audited-2", "viewer")
    browsing.api.patch("/api/v1/users/ui-audited", json={"role": "developer"})
    page = browsing.sign_in()
    page.click("nav >> text=Audit")
    expect(page.locator(".chain")).to_contain_text("Chain verified")
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_contain_text("login")
    expect(page.locator("table.audit")).to_contain_text("user.create")
    browsing.screenshot("audit")
    page.fill("input[name=actor]", "admin")
    page.fill("input[name=action]", "user.update")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"actor=admin&action=user.update"))
    expect(rows.filter(has_text="ui-audited")).to_have_count(1)
    expect(rows.filter(has_not_text="user.update")).to_have_count(0)
    expect(rows.filter(has_not_text="admin")).to_have_count(0)
    page.goto(browsing.url + "/audit?action=user.create&limit=1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ui-audited-2")
    page.get_by_role("link", name="Older events").click()
    expect(rows).to_have_count(1)
    expect(rows.first).not_to_contain_text("ui-audited-2")
    expect(rows.first).to_contain_text("ui-audited")
    expect(page.get_by_role("link", name="Newest")).to_be_visible()
    page.goto(browsing.url + "/audit?actor=" + "x" * 200)
    expect(page.locator(".filters .field-error")).to_have_text("actor is at most 128 characters")


def test_developers_and_viewers_get_no_admin_pages_and_managers_only_read_users(
    browsing: Browsing,
) -> None:
    password = browsing.user("ui-viewer", "viewer")
    browsing.user("ui-dev", "developer", password)
    for name in ("ui-dev", "ui-viewer"):
        browsing.context.clear_cookies()
        page = browsing.sign_in(name, password)
        nav = page.locator("nav[aria-label=main]")
        expect(nav.get_by_role("link", name="Tokens")).to_be_visible()
        for hidden in ("Queue", "Users"):
            expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
        for path in ("/queue", "/users"):
            answer = page.request.get(browsing.url + path)
            assert answer.status in (403, 404), (path, answer.status)
            assert answer.headers["content-type"].startswith("text/html")
            assert re.search(r"<h1>40[34]", answer.text())
        board = page.request.get(browsing.url + "/queue/board", headers={"HX-Request": "true"})
        assert board.headers.get("hx-refresh") == "true" and board.text() == ""
    page.goto(browsing.url + "/users")
    expect(page.locator("h1")).to_contain_text("403")
    browsing.screenshot("users-refused")

    browsing.user("ui-manager", "manager", password)  # lists users, changes none
    browsing.context.clear_cookies()
    page = browsing.sign_in("ui-manager", password)
    page.goto(browsing.url + "/users")
    expect(page.locator("#user-ui-viewer")).to_contain_text("viewer")
    expect(page.locator("main form")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Only admins may change users.")

    with httpx.Client(base_url=browsing.url) as http:
        signed = http.post("/login", data={"username": "ui-viewer", "password": password},
                           headers={"Origin": browsing.url})  # fmt: skip
        assert signed.status_code == 303
        home = http.get("/").text
        match = re.search(r'<meta name="csrf-token" content="([^"]+)">', home)
        assert match
        forged = {"_csrf": match.group(1), "username": "ui-forged", "password": password,
                  "role": "admin", "_next": "/users"}  # fmt: skip
        refused = http.post("/api/v1/users", data=forged, headers={"Origin": browsing.url})
        assert refused.status_code == 303 and refused.headers["location"] != "/users"
    names = [u["username"] for u in browsing.api.get("/api/v1/users").json()["users"]]
    assert "ui-forged" not in names


def test_the_admin_pages_fit_a_phone_in_the_dark(browsing: Browsing) -> None:
    browsing.sign_in()
    browsing.page.set_viewport_size({"width": 390, "height": 844})
    browsing.page.emulate_media(color_scheme="dark")
    for path in ("/users", "/tokens", "/queue", "/audit"):
        page = browsing.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(SCREENSHOTS / f"phone{path.replace('/', '-')}.png"))
        assert width <= 390, (path, width)


def test_without_javascript_a_token_is_made_and_revoked(
    browser: Browser, ui_server: Served
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    password = (ui_server.data_dir / "initial-admin-password").read_text().strip()
    page.goto(ui_server.url + "/tokens")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.fill("#new input[name=name]", "ui-nojs")
    page.click("#new button[type=submit]")
    expect(page.locator("#once-token")).to_have_text(re.compile(r"^cap_"))
    row = page.locator("tr", has_text="ui-nojs")
    confirm(page, row, "Revoke", "Yes, revoke")
    expect(page.locator(".flash.notice")).to_contain_text("ui-nojs revoked")
    expect(page.locator("tr", has_text="ui-nojs")).to_have_count(0)
    context.close()
