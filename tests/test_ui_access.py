"""The project's Access page in a real browser: the deploy key generated, copied and removed,
a host scanned (a real sshd), its key accepted and removed, known_hosts lines trusted, the
API's errors shown beside their form, and what a viewer is (not) offered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sshd import start_sshd
from ui import Browsing

from app.keyring import ssh

pytestmark = pytest.mark.xdist_group("test_ui_access")


def confirm_and_click(page: Page, selector: str) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(selector)


def test_the_deploy_key_and_host_keys_are_managed_on_the_access_page(
    browsing: Browsing, tmp_path: Path
) -> None:
    sshd = start_sshd(tmp_path / "sshd")
    try:
        url = f"ssh://{sshd.user}@{sshd.host}:{sshd.port}/srv/private.git"
        browsing.project("private", repo_url=url)
        page = browsing.sign_in()
        page.goto(browsing.url + "/projects/private")
        page.click("nav.tabs >> text=Access")
        expect(page).to_have_url(re.compile(r"/projects/private/access$"))
        untrusted = page.locator("#repo-host-untrusted")
        expect(untrusted).to_contain_text("No trusted key for 127.0.0.1:")
        expect(page.locator("#f-host")).to_have_value("127.0.0.1")  # the repository's host
        expect(page.locator("#f-port")).to_have_value(str(sshd.port))
        screenshot = browsing.screenshot("project-access-empty")
        assert screenshot.exists()

        page.click("text=Generate deploy key")
        expect(page.locator(".flash.notice")).to_contain_text("Deploy key generated")
        shown = browsing.api.get("/api/v1/projects/private/deploy-key").json()
        expect(page.locator("#deploy-key")).to_have_text(shown["public_key"])
        expect(page.locator("#deploy-key-fingerprint")).to_have_text(shown["fingerprint"])
        assert "PRIVATE KEY" not in page.content()

        page.click("#scan button[type=submit]")
        expect(page.locator(".flash.notice")).to_contain_text("Scanned")
        offered = ssh.fingerprint(sshd.host_key)
        row = page.locator(".host-keys tbody tr", has_text=offered)
        expect(row).to_contain_text("not trusted")
        browsing.screenshot("project-access-scanned")
        confirm_and_click(page, f".host-keys tr:has-text('{offered}') >> text=Accept")
        expect(page.locator(".flash.notice")).to_contain_text("trusted for 127.0.0.1")
        expect(row).to_contain_text("trusted by admin")
        expect(untrusted).to_have_count(0)

        hashed = "|1|aGFzaA==|aGFzaA== ssh-ed25519 AAAA"
        page.fill("#f-known_hosts", hashed)
        page.click("text=Trust these keys")
        expect(page.locator("#known-hosts .field-error")).to_contain_text("hashed host names")
        expect(page.locator("#f-known_hosts")).to_have_value(hashed)  # as typed, to correct
        page.fill("#f-known_hosts", f"github.com {sshd.host_key}\n")
        page.click("text=Trust these keys")
        expect(page.locator(".flash.notice")).to_have_text("Host keys trusted.")
        github = page.locator(".host-keys tbody tr", has_text="github.com")
        expect(github).to_contain_text("trusted by admin")

        page.fill("#f-host", "127.0.0.1")
        page.fill("#f-port", "9")
        page.click("#scan button[type=submit]")
        expect(page.locator("#scan .field-error")).to_contain_text("cannot reach 127.0.0.1:9")
        browsing.screenshot("project-access")

        confirm_and_click(page, ".host-keys tr:has-text('github.com') >> text=Remove")
        expect(page.locator(".flash.notice")).to_have_text("Host key removed.")
        expect(page.locator(".host-keys tbody")).not_to_contain_text("github.com")
        confirm_and_click(page, "text=Replace key")
        expect(page.locator(".flash.notice")).to_contain_text("Deploy key replaced")
        replaced = browsing.api.get("/api/v1/projects/private/deploy-key").json()
        assert replaced["fingerprint"] != shown["fingerprint"]
        confirm_and_click(page, "text=Remove key")
        expect(page.locator(".flash.notice")).to_have_text("Deploy key removed.")
        expect(page.locator("text=Generate deploy key")).to_be_visible()
    finally:
        sshd.stop()


def test_a_viewer_sees_the_public_key_and_host_keys_but_no_controls(browsing: Browsing) -> None:
    browsing.project("shown")
    made = browsing.api.post("/api/v1/projects/shown/deploy-key").json()
    line = f"example.com {ssh.parse_public(ssh.generate('host').public)}"
    given = browsing.api.post("/api/v1/projects/shown/host-keys", json={"known_hosts": line})
    assert given.status_code == 201, given.text
    password = browsing.user("vic", "viewer")
    page = browsing.sign_in("vic", password)
    page.goto(browsing.url + "/projects/shown/access")
    expect(page.locator("#deploy-key")).to_have_text(made["public_key"])
    expect(page.locator(".host-keys tbody")).to_contain_text("example.com")
    for control in ("Generate deploy key", "Replace key", "Remove key", "Remove", "Scan",
                    "Trust these keys"):  # fmt: skip
        expect(page.locator(f"button:has-text('{control}')")).to_have_count(0)
    browsing.screenshot("project-access-viewer")
