"""The web UI's frame in a real browser: sign-in, the dashboard live, forms without JavaScript."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect
from served import Served
from ui import Browsing

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui")


def test_sign_in_lands_on_the_dashboard_and_signs_out(browsing: Browsing) -> None:
    page = browsing.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.locator(".hint")).to_contain_text("initial-admin-password")
    browsing.screenshot("login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_have_text("Wrong username or password.")
    browsing.sign_in()
    expect(page.locator("h1")).to_have_text("Projects")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(browsing.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_the_dashboard_follows_deployments_without_a_reload(browsing: Browsing) -> None:
    browsing.project("dash", stages=[{"name": "build", "run": "sleep 2; echo done"}])
    page = browsing.sign_in()
    row = page.locator("#project-rows tr", has_text="dash")
    expect(row).to_contain_text("never deployed")
    page.evaluate("window.notReloaded = true")
    dep = browsing.api.post("/api/v1/projects/dash/deployments", json={}).json()
    expect(row).to_contain_text("running", timeout=10_000)
    browsing.screenshot("dashboard-running")
    expect(row).to_contain_text("COMPLETED", timeout=20_000)
    expect(row.locator("td").nth(1)).not_to_have_text("none")
    assert dep["status"] == "PENDING"
    assert page.evaluate("window.notReloaded") is True
    browsing.screenshot("dashboard")


def test_pages_send_a_strict_content_security_policy(ui_server: Served) -> None:
    answer = httpx.get(ui_server.url + "/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert '<script src="/static/vendor/htmx-2.0.11.min.js"' in answer.text
    assert httpx.get(ui_server.url + "/static/vendor/htmx-2.0.11.min.js").status_code == 200


def test_without_javascript_forms_still_work(browser: Browser, ui_server: Served) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    password = (ui_server.data_dir / "initial-admin-password").read_text().strip()
    page.goto(ui_server.url + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Projects")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login"))
    context.close()


def test_a_form_from_another_site_is_refused(ui_server: Served) -> None:
    password = (ui_server.data_dir / "initial-admin-password").read_text().strip()
    with httpx.Client(base_url=ui_server.url) as http:
        signed = http.post("/login", data={"username": "admin", "password": password},
                           headers={"Origin": ui_server.url})  # fmt: skip
        assert signed.status_code == 303 and http.cookies
        forged = http.post("/api/v1/projects", data={"name": "forged"},
                           headers={"Origin": "https://evil.example"})  # fmt: skip
        assert forged.status_code == 303
        assert http.get("/api/v1/projects/forged").status_code == 404
        login = http.post("/login", data={"username": "admin", "password": password},
                          headers={"Origin": "https://evil.example"})  # fmt: skip
        assert login.headers["location"].startswith("/login?error=cross_site")
