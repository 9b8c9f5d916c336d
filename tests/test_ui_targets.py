"""The project's Targets page in a real browser: adding a target (its errors shown by the field,
its public key with a copy button), checking the connection to a real sshd, and what a viewer
is (not) offered."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sshd import Sshd
from ui import Browsing

from app.keyring import ssh

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_ui_targets")


def test_an_admin_adds_a_target_and_sees_its_public_key(browsing: Browsing) -> None:
    browsing.project("shop")
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/shop")
    page.click("nav.tabs >> text=Targets")
    expect(page).to_have_url(re.compile(r"/projects/shop/targets$"))
    expect(page.locator("#no-targets")).to_be_visible()
    expect(page.locator("#strategy")).to_contain_text("all at once")

    page.fill("#f-name", "web-1")
    page.fill("#f-host", "web1.example.com")
    page.fill("#f-port", "2222")
    page.fill("#f-user", "deploy")
    page.fill("#f-path", "srv/web")
    page.fill("#f-labels", "eu\nweb")
    page.click("text=Add target")
    expect(page.locator("#e-path")).to_contain_text("path must be an absolute path")
    expect(page.locator("#f-path")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).to_have_value("web-1")
    expect(page.locator("#f-port")).to_have_value("2222")
    expect(page.locator("#f-labels")).to_have_value("eu\nweb")
    browsing.screenshot("targets-add-error")

    page.fill("#f-path", "/srv/web")
    page.click("text=Add target")
    card = page.locator("#target-web-1")
    expect(card).to_be_visible()
    expect(page.locator(".flash.notice")).to_contain_text("authorized_keys")
    expect(card.locator(".address")).to_have_text("deploy@web1.example.com:2222")
    expect(card.locator(".path")).to_have_text("/srv/web")
    expect(card.locator(".badge", has_text="eu")).to_be_visible()
    expect(card.locator(".release")).to_contain_text("none yet")
    expect(card.locator(".host-key")).to_contain_text("not seen yet")
    shown = browsing.api.get("/api/v1/projects/shop/targets/web-1").json()
    expect(page.locator("#key-web-1")).to_have_text(shown["public_key"])
    assert shown["public_key"].startswith("ssh-ed25519 ")
    expect(card.locator("button[data-copy='#key-web-1']")).to_be_visible()
    expect(card).to_contain_text(shown["fingerprint"])
    assert "PRIVATE KEY" not in page.content()
    browsing.screenshot("targets-added")

    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("text=Remove").click()
    expect(page.locator("#no-targets")).to_be_visible()
    assert browsing.api.get("/api/v1/projects/shop/targets").json() == {"targets": []}


def test_a_check_against_a_real_sshd_says_its_host_key_is_not_trusted_yet(
    browsing: Browsing, sshd: Sshd
) -> None:
    browsing.project("checked")
    target = {"name": "box", "host": sshd.host, "port": sshd.port, "user": sshd.user,
              "path": "/tmp/checked"}  # fmt: skip
    assert browsing.api.post("/api/v1/projects/checked/targets", json=target).status_code == 201
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/checked/targets")
    card = page.locator("#target-box")
    expect(card.locator(".last-check")).to_contain_text("never")
    card.locator("text=Check connection").click()
    host_print = ssh.fingerprint(sshd.host_key)
    expect(card.locator(".last-check")).to_contain_text("not trusted yet")
    expect(card.locator(".last-check")).to_contain_text(host_print)
    expect(card.locator(".last-check .status")).to_have_text("failed")
    expect(card.locator(".host-key")).to_contain_text("not trusted yet")
    expect(card.locator(".host-key .fingerprint")).to_have_text(host_print)
    expect(card.locator(".host-key a")).to_have_attribute(
        "href", re.compile(r"^/projects/checked/access#host-key-\d+$")
    )
    browsing.screenshot("targets-checked")

    # Accepted on the Access page and let in on the server, the next check logs in.
    pin = card.locator(".host-key a").get_attribute("href")
    assert pin
    accepted = browsing.api.post(
        f"/api/v1/projects/checked/host-keys/{pin.rsplit('-', 1)[1]}/accept"
    )
    assert accepted.status_code == 200, accepted.text
    sshd.authorize(browsing.api.get("/api/v1/projects/checked/targets/box").json()["public_key"])
    page.reload()
    expect(card.locator(".host-key .badge")).to_have_text("trusted")
    expect(card.locator(".last-check .outdated")).to_be_visible()
    card.locator("text=Check connection").click()
    expect(card.locator(".last-check .status")).to_have_text("ok")
    expect(card.locator(".last-check")).to_contain_text(f"logged in to {sshd.user}@{sshd.host}")
    expect(card.locator(".last-check .outdated")).to_have_count(0)

    # A check of the old address says nothing about a new one.
    moved = browsing.api.patch("/api/v1/projects/checked/targets/box", json={"port": 2})
    assert moved.status_code == 200, moved.text
    page.reload()
    expect(card.locator(".last-check")).to_have_text("never")


def test_a_viewer_sees_the_targets_but_no_buttons(browsing: Browsing) -> None:
    browsing.project("watched")
    target = {"name": "db", "host": "10.0.0.5", "user": "deploy", "path": "/srv/db"}
    assert browsing.api.post("/api/v1/projects/watched/targets", json=target).status_code == 201
    password = browsing.user("vic", "viewer")
    page = browsing.sign_in("vic", password)
    page.goto(browsing.url + "/projects/watched/targets")
    expect(page.locator("#target-db .address")).to_have_text("deploy@10.0.0.5:22")
    expect(page.locator("#key-db")).to_contain_text("ssh-ed25519 ")
    expect(page.locator("#target-db form")).to_have_count(0)
    expect(page.locator("#add-target")).to_have_count(0)
    expect(page.locator("text=Change in Settings")).to_have_count(0)
    browsing.screenshot("targets-viewer")
    page.set_viewport_size({"width": 390, "height": 844})
    browsing.screenshot("targets-viewer-phone")


def test_the_strategy_and_health_check_are_set_in_settings_and_shown_with_the_targets(
    browsing: Browsing,
) -> None:
    browsing.project("rolled")
    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/rolled/targets")
    page.click("text=Change in Settings")
    expect(page).to_have_url(re.compile(r"/projects/rolled/settings#f-strategy$"))
    page.select_option("#f-strategy", "rolling")
    page.fill("#f-batch_size", "2")
    page.fill("#f-health_check", '{"url": "http://{host}:8080/health", "retries": 99}')
    page.click("text=Save settings")
    expect(page.locator("#e-health_check")).to_contain_text("health_check.retries")
    expect(page.locator("#f-health_check")).to_contain_text('"retries": 99')
    expect(page.locator("#f-strategy")).to_have_value("rolling")
    page.fill("#f-health_check", '{"url": "http://{host}:8080/health", "retries": 5}')
    page.click("text=Save settings")
    expect(page).to_have_url(re.compile(r"/projects/rolled$"))
    shown = browsing.api.get("/api/v1/projects/rolled").json()
    assert (shown["strategy"], shown["batch_size"]) == ("rolling", 2)
    assert shown["health_check"]["url"] == "http://{host}:8080/health"

    page.goto(browsing.url + "/projects/rolled/targets")
    expect(page.locator("#strategy")).to_have_text("rolling: 2 hosts at a time")
    expect(page.locator("#health-check")).to_contain_text(
        "GET http://{host}:8080/health answering 200; timeout 10 s, 5 retries 2 s apart"
    )
    browsing.screenshot("targets-rollout")
    page.goto(browsing.url + "/projects/rolled/settings")
    expect(page.locator("#f-health_check")).to_contain_text('"retries": 5')
    expect(page.locator("#f-batch_size")).to_have_value("2")
    browsing.screenshot("settings-targets")


def test_a_deployment_to_a_real_sshd_shows_its_release_and_health_on_the_page(
    browsing: Browsing, sshd: Sshd, tmp_path: Path
) -> None:
    stages = [{"name": "build", "run": "echo built > built.txt"},
              {"name": "greet", "run": "cat built.txt", "on": "targets"}]  # fmt: skip
    browsing.project("shipped", stages=stages, health_check={"command": "test -f built.txt"})
    api = browsing.api
    target = {"name": "box", "host": sshd.host, "port": sshd.port, "user": sshd.user,
              "path": str(tmp_path / "box")}  # fmt: skip
    made = api.post("/api/v1/projects/shipped/targets", json=target).json()
    sshd.authorize(made["public_key"])
    api.post("/api/v1/projects/shipped/targets/box/check")  # records the host key
    (pin,) = api.get("/api/v1/projects/shipped/host-keys").json()["host_keys"]
    assert api.post(f"/api/v1/projects/shipped/host-keys/{pin['id']}/accept").is_success
    dep = api.post("/api/v1/projects/shipped/deployments").json()
    deadline = time.monotonic() + 60
    while (found := api.get(f"/api/v1/deployments/{dep['id']}").json())["status"] in (
        "PENDING", "IN_PROGRESS"
    ):  # fmt: skip
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert found["status"] == "COMPLETED", found

    page = browsing.sign_in()
    page.goto(browsing.url + "/projects/shipped/targets")
    card = page.locator("#target-box")
    expect(card.locator(".release")).to_have_text(found["release"])
    expect(card.locator(".health .status")).to_have_text("ok")
    expect(card.locator(".last-check .outdated")).to_contain_text("check again")
    expect(page.locator("#target-stages")).to_have_text("greet")
    expect(page.locator("#health-check")).to_contain_text("the command below exiting 0")
    assert (tmp_path / "box" / "current" / "built.txt").read_text() == "built\n"
    browsing.screenshot("targets-deployed")
