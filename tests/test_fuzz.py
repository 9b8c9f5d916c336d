"""Schemathesis against the live OpenAPI document of a real `capstan serve`: every operation,
with bodies, parameters and headers generated from (and, in its negative phases, against)
the document, signed in as an admin. Whatever arrives, the answer is never a 5xx, and every
4xx is the API's JSON error."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import PG_URL, RedisServer, _pg_execute
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from served import Served, serve

from app.keyring import ssh
from app.web.openapi import document
from app.web.routes import PERMISSIONS, ROUTES

# Examples per operation in the fuzzing phase (the coverage phase adds its own boundary and
# negative cases): about 40 operations, so some 400 requests and 15 s for each database.
EXAMPLES = 8


@dataclasses.dataclass
class Live:
    served: Served
    headers: dict[str, str]
    known: dict[str, str]  # a real object for each path parameter


def _seed(url: str, headers: dict[str, str]) -> dict[str, str]:
    """A project with a finished deployment (its log ends, so following it returns), a
    secret, a trusted host key, a second user and a token: objects a generated request may
    name, so that it reaches past the 404s."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        stages = [{"name": "build", "run": "echo built"}]
        assert http.post("/api/v1/projects", json={"name": "web", "stages": stages}).is_success
        dep = http.post("/api/v1/projects/web/deployments").json()
        deadline = time.monotonic() + 30
        while http.get(f"/api/v1/deployments/{dep['id']}").json()["status"] != "COMPLETED":
            assert time.monotonic() < deadline, "the seeded deployment did not complete"
            time.sleep(0.05)
        assert http.put("/api/v1/projects/web/secrets/API_KEY", json={"value": "hunter22"})
        user = {"username": "target", "password": "correct horse battery", "role": "developer"}
        assert http.post("/api/v1/users", json=user).is_success
        token = http.post("/api/v1/tokens", json={"name": "spare"}).json()
        line = f"git.example {ssh.parse_public(ssh.generate('host').public)}"
        pins = http.post("/api/v1/projects/web/host-keys", json={"known_hosts": line}).json()
    return {"project": "web", "deployment": dep["id"], "name": "API_KEY",
            "username": "target", "token": token["id"], "delivery": str(uuid.uuid4()),
            "host_key": str(pins["host_keys"][0]["id"])}  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    templates: dict[str, str],
) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz-api")
    database_url = None
    if request.param == "postgres":
        name = f"capstan_fuzz_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgres"]}"'))
        database_url = f"{PG_URL.rpartition('/')[0]}/{name}"
    redis = RedisServer(tmp)
    redis.start()
    try:
        with serve(tmp, redis.url, database_url) as served:
            headers = {"Authorization": f"Bearer {served.admin_token()}"}
            yield Live(served, headers, _seed(served.url, headers))
    finally:
        redis.stop()
        if database_url:
            asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def served_document() -> dict[str, Any]:
    """The document every server serves at /api/v1/openapi.json (a test below checks the live
    one is this). Loaded at import, as schemathesis's parametrize needs it at collection: its
    fixture-based loader does not run on pytest 9.2 (it sets `node._nodeid`, which is gone)."""
    return document(ROUTES, {k: v.value for k, v in PERMISSIONS.items()})


schema = schemathesis.openapi.from_dict(served_document())


def test_the_live_document_is_the_one_fuzzed(live: Live) -> None:
    live_document = httpx.get(f"{live.served.url}/api/v1/openapi.json").json()
    assert live_document == json.loads(json.dumps(served_document()))


@schema.parametrize()
@schema.given(
    known=st.booleans(), sse=st.booleans(), anonymous=st.integers(0, 3).map(lambda n: n == 0)
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_5xx(
    case: Any, known: bool, sse: bool, anonymous: bool, live: Live
) -> None:
    """`known`: the path names the seeded objects; `sse`: asks for an event stream; one case
    in four keeps whatever Authorization was generated (or none) instead of the admin's."""
    if known and case.path_parameters:
        case.path_parameters = {k: live.known.get(k, v) for k, v in case.path_parameters.items()}
    headers = {} if anonymous else dict(live.headers)
    if sse:
        headers["Accept"] = "text/event-stream"
    response = case.call(base_url=live.served.url, headers=headers, timeout=30)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lists
        assert content_type.startswith("application/json"), f"{where}: {response.text[:500]}"
        error = response.json()["error"]
        assert error["code"] and error["message"], where


def test_the_server_logged_no_traceback(live: Live) -> None:
    log = live.served.log.read_text()
    assert "Traceback" not in log, log[-5000:]
