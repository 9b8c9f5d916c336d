"""The project pages in a real browser: create and change a project through its forms (the
API's errors shown by their field), secrets, members, webhooks, triggering, history and
rollback, and what a viewer is (not) offered."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from served import Served
from ui import Browsing

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui_projects")

DEPLOYMENT_URL = re.compile(r"/deployments/([0-9a-f-]{36})$")


def screenshot(browsing: Browsing, name: str, page: Page | None = None) -> None:
    """`browsing.screenshot`, then take back the empty `style=""` a full-page screenshot leaves
    on form fields: htmx copies it onto the next page's field of the same id, which the CSP
    refuses (a console error, and the test's failure)."""
    browsing.screenshot(name, page)
    (page or browsing.page).evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


def wait_finished(api: httpx.Client, dep_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep: dict[str, Any] = api.get(f"/api/v1/deployments/{dep_id}").json()
        if dep["status"] not in ("PENDING", "IN_PROGRESS"):
            return dep
        time.sleep(0.1)
    raise AssertionError(f"deployment {dep_id} did not finish in {timeout} s")


def lands_on_deployment(page: Page, button: str) -> str:
    """Click `button` and return the id of the deployment page the form leads to (whether
    or not that page exists yet)."""
    with page.expect_response(lambda r: bool(DEPLOYMENT_URL.search(r.url))) as landed:
        page.click(button)
    found = DEPLOYMENT_URL.search(landed.value.url)
    assert found
    return found.group(1)


def signed_push(url: str, project: str, secret: str, branch: str, delivery: str) -> int:
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": "ab" * 20,
                       "pusher": {"name": "octocat"},
                       "repository": {"full_name": "acme/web"}}).encode()  # fmt: skip
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}  # fmt: skip
    return httpx.post(f"{url}/hooks/github/{project}", content=body, headers=headers).status_code


def test_a_project_is_created_through_the_form_with_its_errors_shown_by_the_field(
    browsing: Browsing,
) -> None:
    page = browsing.sign_in()
    page.click("text=New project")
    expect(page).to_have_url(re.compile(r"/projects/new$"))
    assert "approval" in page.input_value("#f-stages")  # a sensible example to edit
    page.fill("#f-name", "made-by-form")
    page.fill("#f-branch", "trunk")
    page.fill("#f-stages", '[{"name": "Build", "run": "echo hi"}]')
    page.fill("#f-keep_releases", "3")
    page.click("text=Create project")
    expect(page.locator("#e-stages")).to_contain_text("stages[0].name: stage name must match")
    expect(page.locator("#f-name")).to_have_value("made-by-form")
    expect(page.locator("#f-branch")).to_have_value("trunk")
    expect(page.locator("#f-keep_releases")).to_have_value("3")
    assert '"Build"' in page.input_value("#f-stages")
    screenshot(browsing, "project-new-error")

    stages = (
        '[{"name": "build", "run": "echo hi", "timeout": 60}, {"name": "ship", "approval": true}]'
    )
    page.fill("#f-stages", stages)
    page.click("text=Create project")
    expect(page).to_have_url(re.compile(r"/projects/made-by-form$"))
    expect(page.locator(".flash.once")).to_contain_text("Webhook secret")
    expect(page.locator("button[data-copy='#once-webhook_secret']")).to_be_visible()
    secret = page.locator("#once-webhook_secret").inner_text().strip()
    expect(page.locator(".stage.gate")).to_contain_text("approval gate")
    expect(page.locator(".stage").first).to_contain_text("timeout 1 min")
    screenshot(browsing, "project-created")
    page.reload()
    assert secret not in page.content()
    assert browsing.api.get("/api/v1/projects/made-by-form").json()["keep_releases"] == 3

    # The forge's URLs with copy buttons; a delivery is listed and can be replayed.
    assert signed_push(browsing.url, "made-by-form", secret, "other", "d-1") == 202
    assert signed_push(browsing.url, "made-by-form", secret, "trunk", "d-2") == 202
    page.click("nav.tabs >> text=Webhooks")
    for forge in ("github", "gitlab", "gitea"):
        expect(page.locator(f"#hook-{forge}")).to_contain_text(f"/hooks/{forge}/made-by-form")
        expect(page.locator(f"button[data-copy='#hook-{forge}']")).to_be_visible()
    deployed, ignored = page.locator(".deliveries tbody tr").all()
    expect(deployed).to_contain_text("deployed")
    expect(ignored).to_contain_text("branch other is not trunk")
    screenshot(browsing, "project-webhooks")
    ignored.locator("text=Replay").click()
    expect(page.locator(".flash.error")).to_contain_text("branch other is not trunk")
    replayed = lands_on_deployment(page, ".deliveries tbody tr >> nth=0 >> text=Replay")
    assert browsing.api.get(f"/api/v1/deployments/{replayed}").json()["trigger"]["replay"]

    # Rotating the secret asks first, then shows the new one once.
    page.goto(browsing.url + "/projects/made-by-form/webhooks")
    page.click("text=Rotate secret…")
    expect(page.locator(".confirm h2")).to_have_text("Rotate the webhook secret?")
    page.click("text=Rotate the secret")
    expect(page).to_have_url(re.compile(r"/projects/made-by-form/webhooks$"))
    rotated = page.locator("#once-webhook_secret").inner_text().strip()
    assert rotated and rotated != secret
    assert signed_push(browsing.url, "made-by-form", secret, "trunk", "d-3") == 401


def test_settings_show_the_api_error_by_its_field_and_delete_asks_first(
    browsing: Browsing,
) -> None:
    browsing.project("tuned", on_rollback="echo back")
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/tuned/settings")
    expect(page.locator("#f-on_rollback")).to_have_value("echo back")
    page.fill("#f-branch", "bad..ref")
    page.fill("#f-keep_releases", "9")
    page.check("input[type=checkbox][name='members_can_approve:bool']")
    page.click("text=Save settings")
    expect(page.locator("#e-branch")).to_contain_text("branch is not a valid git ref")
    expect(page.locator("#f-branch")).to_have_value("bad..ref")
    expect(page.locator("#f-keep_releases")).to_have_value("9")
    expect(page.locator("input[type=checkbox][name='members_can_approve:bool']")).to_be_checked()
    screenshot(browsing, "project-settings-error")
    page.fill("#f-branch", "release")
    page.fill("#f-on_rollback", "")
    page.click("text=Save settings")
    expect(page).to_have_url(re.compile(r"/projects/tuned$"))
    expect(page.locator(".flash.notice")).to_have_text("Settings saved.")
    saved = browsing.api.get("/api/v1/projects/tuned").json()
    assert (saved["branch"], saved["keep_releases"]) == ("release", 9)
    assert saved["members_can_approve"] is True and saved["on_rollback"] is None

    page.click("nav.tabs >> text=Settings")
    page.click("text=Delete tuned…")
    expect(page.locator(".confirm h2")).to_have_text("Delete tuned?")
    page.click("button:has-text('Delete tuned')")
    expect(page.locator(".flash.notice")).to_have_text("Project tuned deleted.")
    assert browsing.api.get("/api/v1/projects/tuned").status_code == 404


def test_secrets_and_members_are_managed_through_forms_and_values_never_shown(
    browsing: Browsing,
) -> None:
    browsing.project("keeps")
    browsing.user("dana", "developer")
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/keeps/secrets")
    page.fill("#f-name", "DB_PASSWORD")
    page.click("text=Next: its value")
    page.fill("#f-value", "abc")  # too short to mask: the browser asks for more first
    page.click("text=Save DB_PASSWORD")
    assert page.locator("#f-value").evaluate("field => field.validity.tooShort")
    page.fill("#f-value", "first-hunter2-value")
    page.click("text=Save DB_PASSWORD")
    expect(page.locator(".flash.notice")).to_have_text("Secret DB_PASSWORD saved.")
    expect(page.locator(".secrets tbody")).to_contain_text("DB_PASSWORD")
    assert "first-hunter2-value" not in page.content()
    page.click(".secrets >> text=Replace")
    expect(page.locator("#set-h")).to_have_text("Replace DB_PASSWORD")
    page.fill("#f-value", "second-hunter2-value")
    page.click("text=Save DB_PASSWORD")
    expect(page.locator(".flash.notice")).to_have_text("Secret DB_PASSWORD saved.")
    assert "hunter2" not in page.content()
    screenshot(browsing, "project-secrets")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".secrets >> text=Delete")
    expect(page.locator(".flash.notice")).to_have_text("Secret DB_PASSWORD deleted.")
    assert browsing.api.get("/api/v1/projects/keeps/secrets").json()["secrets"] == []

    page.click("nav.tabs >> text=Members")
    page.fill("#f-username", "dana")
    page.click("text=Next: their role")
    page.click("button:has-text('Add dana')")
    expect(page.locator(".members tbody")).to_contain_text("dana")
    dana = page.locator(".members tbody tr", has_text="dana")
    dana.locator("select").select_option("owner")
    dana.locator("text=Change").click()
    expect(page.locator(".flash.notice")).to_have_text("Role of dana saved.")
    screenshot(browsing, "project-members")
    members = browsing.api.get("/api/v1/projects/keeps/members").json()["members"]
    assert {"username": "dana", "role": "owner"} in members
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".members tbody tr", has_text="dana").locator("text=Remove").click()
    expect(page.locator(".flash.notice")).to_have_text("dana removed.")
    members = browsing.api.get("/api/v1/projects/keeps/members").json()["members"]
    assert "dana" not in [m["username"] for m in members]


def test_trigger_from_the_page_and_roll_back_from_the_history_after_confirming(
    browsing: Browsing,
) -> None:
    browsing.project("rolls", stages=[{"name": "build", "run": "echo built"}],
                     on_rollback="echo rolled back")  # fmt: skip
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/rolls")
    expect(page.locator("#current-h + p")).to_have_text("Nothing deployed yet.")
    page.fill("#f-ref", "a..b")
    page.fill("#f-version", "v1")
    page.click("text=Deploy now")
    expect(page.locator("#e-ref")).to_contain_text("ref is not a valid git ref")
    expect(page.locator("#f-version")).to_have_value("v1")
    page.fill("#f-ref", "")
    first = lands_on_deployment(page, "text=Deploy now")
    assert wait_finished(browsing.api, first)["status"] == "COMPLETED"
    second = browsing.api.post("/api/v1/projects/rolls/deployments", json={"version": "v2"})
    assert wait_finished(browsing.api, second.json()["id"])["status"] == "COMPLETED"

    page.goto(browsing.url + "/projects/rolls")
    rows = page.locator(".history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("current")
    expect(rows.nth(0).locator("text=Roll back to this")).to_have_count(0)
    expect(rows.nth(1)).to_contain_text("v1")
    expect(rows.nth(1)).to_contain_text("by admin")
    screenshot(browsing, "project-overview")
    rows.nth(1).locator("text=Roll back to this").click()
    expect(page).to_have_url(re.compile(rf"/projects/rolls/rollback\?to={first}$"))
    expect(page.locator(".confirm pre")).to_have_text("echo rolled back")
    screenshot(browsing, "project-rollback-confirm")
    rollback = lands_on_deployment(page, ".confirm button[type=submit]")
    made = wait_finished(browsing.api, rollback)
    assert (made["kind"], made["rollback_to"], made["status"]) == ("rollback", first, "COMPLETED")
    page.goto(browsing.url + "/projects/rolls")
    expect(page.locator(".history tbody tr").first).to_contain_text("rollback to #")


def test_history_pages_back_twenty_at_a_time(browsing: Browsing) -> None:
    browsing.project("busy", stages=[{"name": "go", "run": "true"}])
    ids = [browsing.api.post("/api/v1/projects/busy/deployments", json={}).json()["id"]
           for _ in range(23)]  # fmt: skip
    for dep_id in ids:
        wait_finished(browsing.api, dep_id, timeout=60)
    listed = browsing.api.get("/api/v1/projects/busy/deployments", params={"limit": 23})
    seqs = [d["seq"] for d in listed.json()["deployments"]]
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/busy")
    rows = page.locator(".history tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(f"#{seqs[0]}")
    page.click("text=Older deployments")
    expect(page).to_have_url(re.compile(rf"\?before={seqs[19]}#history$"))
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(f"#{seqs[20]}")
    expect(page.locator("text=Older deployments")).to_have_count(0)
    expect(rows.first).to_contain_text("release pruned")  # keep_releases is 5
    expect(page.locator("text=Roll back to this")).to_have_count(0)
    page.click("text=Newest")
    expect(rows).to_have_count(20)

    # On a phone, in the dark: nothing wider than the screen.
    browser = browsing.context.browser
    assert browser is not None
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        small = phone.new_page()
        small.goto(browsing.url + "/login")
        password = (browsing.server.data_dir / "initial-admin-password").read_text().strip()
        small.fill("input[name=username]", "admin")
        small.fill("input[name=password]", password)
        small.click("button[type=submit]")
        small.wait_for_url(re.compile(r"^(?!.*/login).*$"))
        for path, name in (
            (f"?before={seqs[19]}", "project-phone"),
            ("/settings", "project-phone-settings"),
        ):
            small.goto(f"{browsing.url}/projects/busy{path}")
            width = small.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
            screenshot(browsing, name, small)
    finally:
        phone.close()


def test_a_viewer_is_offered_no_controls_and_a_forged_trigger_is_refused(
    browsing: Browsing,
) -> None:
    browsing.project("watched", on_rollback="echo back")
    first = browsing.api.post("/api/v1/projects/watched/deployments", json={}).json()["id"]
    wait_finished(browsing.api, first)
    second = browsing.api.post("/api/v1/projects/watched/deployments", json={}).json()["id"]
    wait_finished(browsing.api, second)
    browsing.api.put("/api/v1/projects/watched/secrets/TOKEN", json={"value": "viewer-never-sees"})
    password = browsing.user("v2", "viewer")
    page = browsing.sign_in("v2", password)
    page.goto(browsing.url + "/projects/watched")
    expect(page.locator(".history tbody tr")).to_have_count(2)
    assert page.locator("form").count() == 1  # signing out is all
    for control in ("Deploy now", "Roll back to this", "Settings"):
        expect(page.locator(f"text={control}")).to_have_count(0)
    screenshot(browsing, "project-viewer")
    page.click("nav.tabs >> text=Secrets")
    expect(page.locator(".secrets tbody")).to_contain_text("TOKEN")
    expect(page.locator("#set-secret")).to_have_count(0)
    expect(page.locator(".secrets >> text=Delete")).to_have_count(0)
    assert "viewer-never-sees" not in page.content()
    page.click("nav.tabs >> text=Members")
    expect(page.locator("#add-member")).to_have_count(0)
    expect(page.locator(".members select")).to_have_count(0)
    page.click("nav.tabs >> text=Webhooks")
    expect(page.locator("text=Rotate secret…")).to_have_count(0)
    for path in ("settings", f"rollback?to={first}", "webhooks/rotate", "delete"):
        page.goto(f"{browsing.url}/projects/watched/{path}")
        expect(page.locator("h1")).to_contain_text("403")

    page.goto(browsing.url + "/projects/watched")
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    cookies = {c["name"]: c["value"] for c in browsing.context.cookies()}
    with httpx.Client(base_url=browsing.url, cookies=cookies) as http:
        forged = http.post("/api/v1/projects/watched/deployments",
                           data={"_csrf": csrf or "", "_next": "/deployments/{id}"},
                           headers={"Origin": browsing.url})  # fmt: skip
    assert forged.status_code == 303
    assert not DEPLOYMENT_URL.search(forged.headers["location"])
    history = browsing.api.get("/api/v1/projects/watched/deployments").json()["deployments"]
    assert [d["id"] for d in history] == [second, first]


def test_without_javascript_the_forms_and_confirmations_still_work(
    browser: Browser, ui_server: Served, browsing: Browsing
) -> None:
    browsing.project("plain", stages=[{"name": "build", "run": "echo built"}])
    first = browsing.api.post("/api/v1/projects/plain/deployments", json={}).json()["id"]
    wait_finished(browsing.api, first)
    second = browsing.api.post("/api/v1/projects/plain/deployments", json={}).json()["id"]
    wait_finished(browsing.api, second)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        password = (ui_server.data_dir / "initial-admin-password").read_text().strip()
        page.goto(ui_server.url + "/projects/plain/secrets")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.fill("#f-name", "API_KEY")
        page.click("text=Next: its value")
        page.fill("#f-value", "no-script-value")
        page.click("text=Save API_KEY")
        expect(page.locator(".flash.notice")).to_have_text("Secret API_KEY saved.")
        page.click(".secrets >> text=Delete")  # no script, no dialog: the form posts
        expect(page.locator(".flash.notice")).to_have_text("Secret API_KEY deleted.")
        page.goto(ui_server.url + "/projects/plain")
        page.click("text=Roll back to this")
        page.click(".confirm button[type=submit]")
        expect(page).to_have_url(DEPLOYMENT_URL)
        rollback = DEPLOYMENT_URL.search(page.url)
        assert rollback
        assert wait_finished(browsing.api, rollback.group(1))["rollback_to"] == first
    finally:
        context.close()
