"""The web UI in a real browser: Debian's chromium driven by Playwright (sync API), against a
real `capstan serve` in its own process.

Registered as a plugin by conftest.py: a test takes the
`browsing` fixture: a fresh browser context (no cookies) on a server shared by the module.
Screenshots go to `build/screenshots/` (look at them before calling a page done). A page
that breaks its Content Security Policy or throws fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RedisServer
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from served import Served, serve

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The suite runs four processes on two cores: a page may take longer than Playwright's 5 s.
expect.set_options(timeout=15_000)


# Per module: sync Playwright runs an event loop of its own while it lives, and an async test
# that came after it in the same process would find that loop running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("the UI tests need Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def ui_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("ui"), redis_server.url) as served:
        yield served


@dataclass
class Browsing:
    """A browser context on the server, with an API client (admin token) beside it."""

    server: Served
    context: BrowserContext
    page: Page
    api: httpx.Client
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def goto(self, path: str) -> Page:
        self.page.goto(self.url + path)
        return self.page

    def sign_in(self, username: str = "admin", password: str | None = None) -> Page:
        """Sign in through the form (the admin's initial password by default)."""
        if password is None:
            password = (self.server.data_dir / "initial-admin-password").read_text().strip()
        page = self.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"^(?!.*/login).*$"))
        return page

    def screenshot(self, name: str, page: Page | None = None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        shot = page or self.page
        shot.screenshot(path=str(path), full_page=True)
        # A full-page screenshot leaves `style=""` on elements, which htmx would carry onto the
        # next page, where the CSP refuses it: leave the page as it was.
        shot.evaluate(
            "document.querySelectorAll('[style]').forEach(e => e.removeAttribute('style'))"
        )
        return path

    def user(self, username: str, role: str, password: str = "correct-horse-battery-9") -> str:
        """Create a user through the API; returns the password."""
        user = {"username": username, "password": password, "role": role}
        made = self.api.post("/api/v1/users", json=user)
        assert made.status_code == 201, made.text
        return password

    def project(self, name: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("stages", [{"name": "build", "run": "echo built"}])
        made = self.api.post("/api/v1/projects", json={"name": name, **fields})
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body


_TOKENS: dict[str, str] = {}


@pytest.fixture
def browsing(browser: Browser, ui_server: Served) -> Iterator[Browsing]:
    if ui_server.url not in _TOKENS:
        _TOKENS[ui_server.url] = ui_server.admin_token()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    headers = {"Authorization": f"Bearer {_TOKENS[ui_server.url]}"}
    with httpx.Client(base_url=ui_server.url, headers=headers, timeout=30) as api:
        session = Browsing(ui_server, context, page, api)

        def console(message: Any) -> None:
            if message.type == "error":
                session.problems.append(f"console: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: session.problems.append(f"page error: {error}"))
        try:
            yield session
        finally:
            context.close()
    # A refused script or style, or a script error, is a bug of the page.
    csp = [p for p in session.problems if "Content Security Policy" in p or "page error" in p]
    assert not csp, csp
