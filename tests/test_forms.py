"""Forms to the API (`app.web.forms`) and the pages, under hostile input: never a 5xx, never
a redirect off the server, nothing changed by a refused form."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from conftest import RedisServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from served import Served, serve

from app.web.forms import FormError, convert, local_path

# One worker runs this module: its server and browser start once (pytest-xdist loadgroup).
pytestmark = pytest.mark.xdist_group("test_forms")


def test_typed_fields_become_json() -> None:
    control, body = convert([
        ("_csrf", "t"), ("_next", "/x"), ("name", "web"), ("blank", ""),
        ("keep_releases:int", " 5 "), ("flag:bool", "false"), ("flag:bool", "on"),
        ("stages:json", '[{"name": "build"}]'), ("paths:lines", "src/\n\n docs/ \n"),
        ("deploy_tags:null", ""), ("events:list", ""), ("events:list", "failed"),
        ("events:list", "succeeded"),
    ])  # fmt: skip
    assert control == {"_csrf": "t", "_next": "/x"}
    assert body == {"name": "web", "keep_releases": 5, "flag": True,
                    "stages": [{"name": "build"}], "paths": ["src/", "docs/"],
                    "deploy_tags": None, "events": ["failed", "succeeded"]}  # fmt: skip


@pytest.mark.parametrize(
    "pair", [("n:int", "٣"), ("n:int", "1e3"), ("n:int", "9" * 19), ("s:json", "[" * 100_000),
             ("s:json", "{"), ("x:exec", "1")],
)  # fmt: skip
def test_a_field_that_cannot_convert_names_itself(pair: tuple[str, str]) -> None:
    with pytest.raises(FormError) as caught:
        convert([pair])
    assert caught.value.field == pair[0].split(":")[0]


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
               "https://evil.example", "javascript:alert(1)", "evil", "", "/a b"],
)  # fmt: skip
def test_no_redirect_leaves_the_server(target: str) -> None:
    assert local_path(target, "/") == "/"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("forms"), redis_server.url) as running:
        yield running


def _session(served: Served) -> tuple[httpx.Client, str]:
    password = (served.data_dir / "initial-admin-password").read_text().strip()
    http = httpx.Client(base_url=served.url, timeout=30, headers={"Origin": served.url})
    signed = http.post("/login", data={"username": "admin", "password": password, "_next": "/"})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    page = http.get("/").text
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return http, csrf


def test_the_login_form_never_sends_the_browser_away(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers={"Origin": served.url}) as http:
        for target in ("//evil.example", "https://evil.example/", "/\t/evil.example"):
            wrong = http.post("/login", data={"username": "admin", "password": "x",
                                              "_next": target})  # fmt: skip
            assert wrong.status_code == 303
            assert wrong.headers["location"].startswith("/login?error=unauthenticated&next=%2F")
            page = http.get("/login", params={"next": target})
            assert page.status_code == 200 and 'name="_next" value="/"' in page.text


def test_a_refused_form_changes_nothing_and_says_why(served: Served) -> None:
    http, csrf = _session(served)
    with contextlib.closing(http):
        wrong = http.post("/api/v1/projects", data={"_csrf": "wrong", "name": "nope"},
                          headers={"Referer": served.url + "/projects/new"})  # fmt: skip
        assert wrong.status_code == 303 and wrong.headers["location"] == "/projects/new"
        assert "X-CSRF-Token" in http.get("/").text  # the flash, shown once
        assert "X-CSRF-Token" not in http.get("/").text
        bad = http.post("/api/v1/projects", data={"_csrf": csrf, "name": "ok",
                                                  "keep_releases:int": "many"})  # fmt: skip
        assert bad.status_code == 303
        assert "keep_releases must be a whole number" in http.get("/").text
        assert http.get("/api/v1/projects").json()["projects"] == []


# Printable and not: the bridge must answer everything with a redirect or a 4xx.
TEXT = st.text(max_size=40)
FIELD_NAMES = st.one_of(
    st.sampled_from(["_method", "_next", "_back", "_csrf", "_done", "name", "stages:json",
                     "keep_releases:int", "flag:bool", "paths:lines", "x:null", "ref", "to",
                     "value", "role", "password", "username"]),
    TEXT,
)  # fmt: skip
FIELDS = st.lists(st.tuples(FIELD_NAMES, TEXT), max_size=8)
PATHS = st.sampled_from([
    "/api/v1/projects", "/api/v1/projects/fz", "/api/v1/projects/fz/deployments",
    "/api/v1/projects/fz/rollback", "/api/v1/projects/fz/secrets/A_B",
    "/api/v1/projects/fz/members/admin", "/api/v1/deployments/x/cancel", "/api/v1/users",
    "/api/v1/users/someone", "/api/v1/tokens", "/api/v1/tokens/x",
    "/api/v1/projects/fz/webhook-secret", "/api/v1/nowhere",
])  # fmt: skip


def test_hostile_forms_get_a_redirect_or_a_4xx(served: Served) -> None:
    http, csrf = _session(served)
    made = http.post("/api/v1/projects", data={"_csrf": csrf, "name": "fz"})
    assert made.status_code == 303

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=PATHS, fields=FIELDS, with_csrf=st.booleans(), raw=st.binary(max_size=64))
    def hostile(path: str, fields: list[tuple[str, str]], with_csrf: bool, raw: bytes) -> None:
        if with_csrf:
            fields = [("_csrf", csrf), *fields]
        body = urlencode(fields).encode() + (b"&" + raw if raw else b"")
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = http.post(path, content=body, headers=form)
        assert answer.status_code < 500, (path, fields, answer.text)
        if answer.status_code == 303:
            assert local_path(answer.headers["location"], "") != "", answer.headers

    with contextlib.closing(http):
        hostile()
        assert http.get("/api/v1/me").status_code == 200  # still signed in, still an admin


HOSTILE_SEGMENTS = ["%00", "a" * 300, "..%2F..%2Fetc", "%ff%fe", "'\"><script>", "-", "%20"]


@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS)
def test_pages_answer_hostile_paths_with_a_page(served: Served, segment: str) -> None:
    http, _ = _session(served)
    with contextlib.closing(http):
        for template in ("/projects/{}", "/deployments/{}", "/projects/{}/settings",
                         "/deployments/{}/summary", "/projects/{}/rollback?to={}"):  # fmt: skip
            answer = http.get(template.replace("{}", segment))
            assert answer.status_code < 500, (template, answer.text)
            assert "<script>" not in answer.text.replace('<script src="', "")


def test_signed_out_pages_send_the_browser_to_sign_in(served: Served, tmp_path: Path) -> None:
    with httpx.Client(base_url=served.url) as http:
        for path in ("/", "/projects/x", "/deployments/x", "/queue", "/users", "/audit"):
            answer = http.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=")


def test_a_csrf_header_that_is_not_ascii_is_refused_not_a_crash(served: Served) -> None:
    http, _ = _session(served)
    with contextlib.closing(http):
        answer = http.post("/api/v1/projects", json={"name": "nonascii"},
                           headers={b"X-CSRF-Token": b"\xc3\xa9\x80"})  # fmt: skip
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "csrf_failed"


def test_a_page_trigger_is_recorded_as_the_ui_and_a_bad_field_keeps_what_was_typed(
    served: Served,
) -> None:
    http, csrf = _session(served)
    with contextlib.closing(http):
        stages = '[{"name": "b", "run": "true"}]'
        made = http.post("/api/v1/projects",
                         data={"_csrf": csrf, "name": "viaui", "stages:json": stages})  # fmt: skip
        assert made.status_code == 303
        sent = http.post("/api/v1/projects/viaui/deployments",
                         data={"_csrf": csrf, "_next": "/deployments/{id}"})  # fmt: skip
        dep_id = sent.headers["location"].rsplit("/", 1)[1]
        assert http.get(f"/api/v1/deployments/{dep_id}").json()["trigger"]["type"] == "ui"
        typo = http.post("/api/v1/projects", data={"_csrf": csrf, "name": "kept",
                                                   "keep_releases:int": "many"},
                         headers={"Referer": served.url + "/projects/new"})  # fmt: skip
        assert typo.headers["location"] == "/projects/new"
        page = http.get("/projects/new").text
        assert 'value="kept"' in page and "keep_releases must be a whole number" in page
