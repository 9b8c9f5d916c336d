"""Hypothesis-generated deliveries against a real `capstan serve`: never a 5xx, and never a
deployment without a valid signature."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import RedisServer, free_port, sign_in_as_admin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payloads import github_push, gitlab_push, go_form, sign

PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
HEADER_NAMES = [
    "X-Hub-Signature-256",
    "X-Gitlab-Token",
    "X-Gitea-Signature",
    "X-GitHub-Event",
    "X-Gitlab-Event",
    "X-Gitea-Event",
    "X-GitHub-Delivery",
    "Idempotency-Key",
    "Content-Type",
]
HEADER_VALUES = st.one_of(
    PRINTABLE,
    st.sampled_from(["push", "ping", "Push Hook", "Tag Push Hook", "application/json",
                     "application/x-www-form-urlencoded"]),
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256=" + b.hex()),
).map(str.strip)  # HTTP clients refuse header values with surrounding blanks  # fmt: skip
PAYLOADS = st.one_of(
    st.binary(max_size=2048),
    st.recursive(
        st.none() | st.booleans() | st.integers() | PRINTABLE,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(PRINTABLE, inner, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from(["refs/heads/main", "refs/tags/v1", "main", ""]).map(
        lambda ref: json.dumps(github_push(ref, "a" * 40)).encode()
    ),
    st.just(json.dumps(gitlab_push("refs/heads/main", "b" * 40)).encode()),
)


@dataclass
class Live:
    url: str
    secret: str
    admin: dict[str, str]


async def _admin_headers(url: str, data_dir: Path) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url) as http:
        await sign_in_as_admin(http, data_dir)
        return {"Authorization": http.headers["Authorization"]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    redis = RedisServer(tmp)
    redis.start()
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "CAPSTAN_DATA_DIR": str(tmp / "data"),
        "CAPSTAN_PORT": str(port),
        "CAPSTAN_REDIS_URL": redis.url,
        "CAPSTAN_MASTER_KEY": "cd" * 32,
        "CAPSTAN_LOG_LEVEL": "warning",
    }
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    stages = [{"name": "approve", "approval": True}]
    admin = asyncio.run(_admin_headers(url, tmp / "data"))
    secrets = []
    for name in ("web", "signed"):
        body = {"name": name, "stages": stages}
        project = httpx.post(f"{url}/api/v1/projects", json=body, headers=admin)
        secrets.append(project.json()["webhook_secret"])
    yield Live(url, "\n".join(secrets), admin)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    log.close()
    redis.stop()


def deployments(live: Live, project: str) -> list[object]:
    response = httpx.get(f"{live.url}/api/v1/projects/{project}/deployments", headers=live.admin)
    result: list[object] = response.json()["deployments"]
    return result


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    provider=st.sampled_from(["github", "gitlab", "gitea"]),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=6),
    body=PAYLOADS,
)
def test_unsigned_deliveries_never_fail_or_deploy(
    live: Live, provider: str, headers: dict[str, str], body: bytes
) -> None:
    response = httpx.post(f"{live.url}/hooks/{provider}/web", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert deployments(live, "web") == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    provider=st.sampled_from(["github", "gitlab", "gitea"]),
    event=st.sampled_from(["push", "ping", "Push Hook", "issues", "create"]),
    body=PAYLOADS,
    form=st.booleans(),
)
def test_signed_deliveries_of_any_shape_never_fail(
    live: Live, provider: str, event: str, body: bytes, form: bool
) -> None:
    secret = live.secret.split("\n")[1]
    signed = body
    if form and provider == "gitea":  # Gitea signs the JSON a form's `payload` field carries
        body = go_form(body)
    headers = {
        "X-GitHub-Event": event,
        "X-Gitea-Event": event,
        "X-Gitlab-Event": event,
        "X-Hub-Signature-256": "sha256=" + sign(secret, body),
        "X-Gitea-Signature": sign(secret, signed),
        "X-Gitlab-Token": secret,
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
    }
    response = httpx.post(f"{live.url}/hooks/{provider}/signed", content=body, headers=headers)
    assert response.status_code in (200, 202, 400), response.text


def test_no_unsigned_delivery_left_a_trace(live: Live) -> None:
    assert deployments(live, "web") == []
    deliveries = httpx.get(f"{live.url}/api/v1/projects/web/deliveries", headers=live.admin)
    assert deliveries.json()["deliveries"] == []


def test_server_log_has_no_tracebacks(live: Live, tmp_path_factory: pytest.TempPathFactory) -> None:
    logs = list(Path(tmp_path_factory.getbasetemp()).glob("fuzz*/serve.log"))
    assert logs and all("Traceback" not in log.read_text() for log in logs)
