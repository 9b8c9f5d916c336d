"""A project's SSH targets over the API (against a real server, and a real sshd on loopback
for the connection check): their own key pairs, validation, audit, and what a check finds."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from conftest import Capstan, database_dump, free_port
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sshd import Sshd
from test_access import add_user
from test_cli import capstan_cli

from app.cli.main import build_parser
from app.domain.pipeline import validate_project
from app.domain.targets import EDITABLE, validate_target
from app.errors import Invalid
from app.keyring import ssh
from app.keyring.keys import read_keys
from app.keyring.vault import Vault
from app.models import AuditEvent, HostKey, Target
from app.web.openapi import COMPONENTS

WEB = {"name": "web-1", "host": "web1.example.com", "user": "deploy", "path": "/srv/web"}


def _base(target: str = "") -> str:
    return "/api/v1/projects/web/targets" + (f"/{target}" if target else "")


async def add(capstan: Capstan, **fields: Any) -> dict[str, Any]:
    response = await capstan.http.post(_base(), json={**WEB, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_target_gets_its_own_key_pair_and_never_shows_the_private_half(
    capstan: Capstan,
) -> None:
    await capstan.create_project()
    made = await add(capstan, labels=["web", "eu", "web"])
    assert made["port"] == 22 and made["labels"] == ["web", "eu"]
    assert made["public_key"].startswith("ssh-ed25519 ")
    assert made["public_key"].endswith(" capstan:web/web-1")
    assert made["fingerprint"] == ssh.fingerprint(made["public_key"])
    assert made["current_release"] is None and made["health"] is None
    assert set(made) == {"name", "host", "port", "user", "path", "labels", "public_key",
                         "fingerprint", "current_release", "health", "created_at",
                         "updated_at"}  # fmt: skip
    row = await Target.get(name="web-1")
    vault = Vault(*read_keys(capstan.settings))
    private = vault.decrypt(row.key, ssh.target_key_purpose(row.id))
    derived = asyncssh.import_private_key(private).export_public_key("openssh").decode()
    assert derived.split()[1] == made["public_key"].split()[1]
    assert "PRIVATE KEY" not in await database_dump(capstan.settings.database)
    listed = (await capstan.http.get(_base())).json()
    assert listed == {"targets": [made]}
    assert (await capstan.http.get(_base("web-1"))).json() == made

    again = await capstan.http.post(_base(), json=WEB)
    assert again.status_code == 409 and again.json()["error"]["code"] == "target_exists"

    rekeyed = await capstan.http.post(_base("web-1") + "/key")
    assert rekeyed.status_code == 201
    assert rekeyed.json()["public_key"] != made["public_key"]
    assert rekeyed.json()["fingerprint"] == ssh.fingerprint(rekeyed.json()["public_key"])

    changed = await capstan.http.patch(_base("web-1"), json={"port": 2222, "labels": []})
    assert changed.status_code == 200
    assert (changed.json()["port"], changed.json()["labels"]) == (2222, [])
    renamed = await capstan.http.patch(_base("web-1"), json={"name": "web-2"})
    assert renamed.status_code == 422 and renamed.json()["error"]["field"] == "name"

    assert (await capstan.http.delete(_base("web-1"))).status_code == 204
    gone = await capstan.http.get(_base("web-1"))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "target_not_found"
    actions = await AuditEvent.filter(project="web", action__startswith="target.").order_by("id")
    assert [e.action for e in actions] == [
        "target.create", "target.rekey", "target.update", "target.delete",
    ]  # fmt: skip
    assert all(e.target == "web-1" for e in actions)
    assert "PRIVATE KEY" not in repr([e.details for e in actions])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Web"), ("name", "-web"), ("name", "a" * 64), ("name", None),
        ("host", "-oProxyCommand=touch /tmp/x"), ("host", "web 1"), ("host", "web\n1"),
        ("host", ""), ("host", "a" * 256), ("host", "exa_mple.com"), ("host", "10.0.0.300"),
        ("host", "web-.example.com"), ("host", 7),
        ("port", 0), ("port", 65536), ("port", True), ("port", "22"),
        ("user", "-l"), ("user", "de ploy"), ("user", "a" * 65), ("user", "9lives"),
        ("user", "root;id"),
        ("path", "srv/web"), ("path", "/srv/../etc"), ("path", "/srv/my app"), ("path", "/"),
        ("path", "/srv/$(id)"), ("path", "/srv/\x1b"), ("path", "/" + "a" * 1024),
        ("path", "/srv/'web'"),
        ("labels", "web"), ("labels", ["Web"]), ("labels", [f"l{i}" for i in range(21)]),
        ("labels", [""]), ("nonsense", 1),
    ],
)  # fmt: skip
def test_hostile_or_malformed_fields_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(Invalid) as refused:
        validate_target({**WEB, field: value}, create=True)
    assert str(refused.value.field).partition("[")[0] == field


def test_valid_fields_are_cleaned() -> None:
    cleaned = validate_target(
        {"name": "db_2", "host": "DB.Example.com.", "port": 65535, "user": "_deploy.x-1",
         "path": "/srv//app/./v1/", "labels": ["db"]},
        create=True,
    )  # fmt: skip
    assert cleaned == {"name": "db_2", "host": "db.example.com", "port": 65535,
                       "user": "_deploy.x-1", "path": "/srv/app/v1", "labels": ["db"]}  # fmt: skip
    for host, kept in (
        ("[::1]", "::1"),
        ("2001:DB8::0:1", "2001:db8::1"),
        ("10.0.0.7", "10.0.0.7"),
    ):
        assert validate_target({**WEB, "host": host}, create=True)["host"] == kept
    assert validate_target({"path": "/opt/x"}, create=False) == {"path": "/opt/x"}
    with pytest.raises(Invalid, match="required"):
        validate_target({"name": "x", "host": "h", "user": "u"}, create=True)


async def test_the_api_refuses_bad_bodies_with_422_and_the_field(capstan: Capstan) -> None:
    await capstan.create_project()
    bodies: list[object] = [{**WEB, "path": "/srv/../etc"}, {**WEB, "host": "-x"},
                            {**WEB, "key": "k"}, []]  # fmt: skip
    for body in bodies:
        response = await capstan.http.post(_base(), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"]
    missing = await capstan.http.get("/api/v1/projects/web/targets/No%00pe")
    assert missing.status_code == 404


async def test_targets_do_not_change_under_a_running_deployment(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "gate", "approval": True}])
    await add(capstan, host="127.0.0.1", port=free_port())  # nobody listens: it fails fast
    dep = await capstan.trigger()
    await capstan.awaiting_approval(dep["id"])
    for method, path, body in (
        ("POST", _base(), {**WEB, "name": "web-2"}),
        ("PATCH", _base("web-1"), {"port": 2200}),
        ("POST", _base("web-1") + "/key", None),
        ("DELETE", _base("web-1"), None),
    ):
        response = await capstan.http.request(method, path, json=body)
        assert response.status_code == 409, (method, path, response.text)
        assert response.json()["error"]["code"] == "deployment_active"
    unchanged = await capstan.http.patch(_base("web-1"), json={"path": "/srv/web"})
    assert unchanged.status_code == 200  # nothing to change is no change
    await capstan.approve(dep["id"])
    await capstan.wait_for(dep["id"], "FAILED")  # the target cannot be reached
    assert (await capstan.http.delete(_base("web-1"))).status_code == 204


async def check(capstan: Capstan, name: str = "web-1") -> dict[str, Any]:
    response = await capstan.http.post(_base(name) + "/check")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"ok", "detail"}
    return body


async def test_a_check_says_what_stands_between_capstan_and_the_host(
    capstan: Capstan, sshd: Sshd
) -> None:
    await capstan.create_project()
    made = await add(capstan, host=sshd.host, port=sshd.port, user=sshd.user, path="/tmp/t")
    host_print = ssh.fingerprint(sshd.host_key)

    first = await check(capstan)
    assert first["ok"] is False
    assert "not trusted yet" in first["detail"] and host_print in first["detail"]
    await HostKey.filter(fingerprint=host_print).update(trusted=True)

    refused = await check(capstan)
    assert refused["ok"] is False and "authorized_keys" in refused["detail"]
    assert made["fingerprint"] in refused["detail"]

    sshd.authorize(made["public_key"])
    assert await check(capstan) == {
        "ok": True, "detail": f"logged in to {sshd.user}@{sshd.host}:{sshd.port} and ran a command"
    }  # fmt: skip

    sshd.rekey()
    changed = await check(capstan)
    assert changed["ok"] is False and "changed" in changed["detail"]
    assert host_print in changed["detail"]

    closed = free_port()
    await capstan.http.patch(_base("web-1"), json={"port": closed})
    unreachable = await check(capstan)
    assert unreachable["ok"] is False and f"{sshd.host}:{closed}" in unreachable["detail"]
    assert await AuditEvent.filter(action="target.check").count() == 5


async def test_a_viewer_sees_targets_but_cannot_change_or_check_them(capstan: Capstan) -> None:
    await capstan.create_project()
    await add(capstan)
    viewer = await add_user(capstan, "vera", "viewer")
    try:
        assert (await viewer.get(_base())).status_code == 200
        for method, path in (("POST", _base()), ("PATCH", _base("web-1")),
                             ("DELETE", _base("web-1")),
                             ("POST", _base("web-1") + "/key"),
                             ("POST", _base("web-1") + "/check")):  # fmt: skip
            response = await viewer.request(method, path, json={})
            assert response.status_code == 403, (method, path, response.text)
    finally:
        await viewer.aclose()


@pytest.mark.one_database
async def test_the_cli_adds_lists_checks_rekeys_and_removes_targets(
    capstan: Capstan, sshd: Sshd
) -> None:
    await capstan.create_project()
    code, out, err = await capstan_cli(
        capstan, "targets", "add", "web", "web-1", "--host", sshd.host, "--port", str(sshd.port),
        "--user", sshd.user, "--path", "/srv/web", "--label", "eu", "--label", "web",
    )  # fmt: skip
    assert code == 0, err
    public = out.strip()
    assert public.startswith("ssh-ed25519 ") and public.endswith(" capstan:web/web-1")
    assert "authorized_keys" in err
    code, _, err = await capstan_cli(capstan, "targets", "add", "web", "web-1", "--host", "h",
                                     "--user", "u", "--path", "/x")  # fmt: skip
    assert code == 4 and "target_exists" in err
    code, _, err = await capstan_cli(capstan, "targets", "add", "web", "web-2", "--host", "h",
                                     "--user", "u", "--path", "srv")  # fmt: skip
    assert code == 1 and "path must be an absolute path" in err

    code, out, _ = await capstan_cli(capstan, "targets", "list", "web")
    assert code == 0 and out.split()[:2] == ["web-1", f"{sshd.user}@{sshd.host}:{sshd.port}"]
    assert "eu,web" in out
    code, out, _ = await capstan_cli(capstan, "targets", "show", "web", "web-1")
    assert code == 0 and public in out and ssh.fingerprint(public) in out

    code, out, _ = await capstan_cli(capstan, "targets", "check", "web", "web-1")
    assert code == 1 and out.startswith("failed: ") and "not trusted yet" in out
    await HostKey.all().update(trusted=True)
    sshd.authorize(public)
    code, out, err = await capstan_cli(capstan, "targets", "check", "web", "web-1", "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True

    code, out, err = await capstan_cli(capstan, "targets", "rekey", "web", "web-1")
    assert code == 0, err
    assert out.strip() != public and out.startswith("ssh-ed25519 ")
    code, out, _ = await capstan_cli(capstan, "targets", "check", "web", "web-1")
    assert code == 1 and "refused the target's key" in out
    code, out, _ = await capstan_cli(capstan, "targets", "remove", "web", "web-1")
    assert code == 0 and out == "removed target web-1 from web\n"
    code, _, err = await capstan_cli(capstan, "targets", "show", "web", "web-1")
    assert code == 3 and "target_not_found" in err
    code, out, _ = await capstan_cli(capstan, "targets")
    assert code == 1 and "usage: capstan targets" in out


NASTY = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["-oProxyCommand=id", "a;id", "$(id)", "`id`", "a b", "a\nb", "..", "/a/../b", "~root"]
)


@given(host=NASTY, user=NASTY, path=NASTY.map(lambda p: "/" + p))
@examples(max_examples=300)
def test_whatever_is_accepted_needs_no_quoting_in_a_command_line(
    host: str, user: str, path: str
) -> None:
    for field, value in (("host", host), ("user", user), ("path", path)):
        try:
            cleaned = validate_target({**WEB, field: value}, create=True)[field]
        except Invalid as refused:
            assert refused.field == field
            continue
        assert shlex.quote(cleaned) == cleaned and not cleaned.startswith("-")
        assert ".." not in cleaned.split("/")


def test_the_documented_bounds_are_the_validators() -> None:
    schema = COMPONENTS["schemas"]["NewTarget"]
    props = schema["properties"]
    assert set(props) == {"name", *EDITABLE} and schema["required"] == [
        "name",
        "host",
        "user",
        "path",
    ]
    longest = "/" + "a" * (props["path"]["maxLength"] - 1)
    assert validate_target({**WEB, "path": longest}, create=True)["path"] == longest
    with pytest.raises(Invalid):
        validate_target({**WEB, "path": longest + "a"}, create=True)
    labels = [f"l{i}" for i in range(props["labels"]["maxItems"])]
    assert validate_target({**WEB, "labels": labels}, create=True)["labels"] == labels
    for port in (props["port"]["minimum"], props["port"]["maximum"]):
        assert validate_target({**WEB, "port": port}, create=True)["port"] == port
    assert validate_target(WEB, create=True)["port"] == props["port"]["default"]
    assert re.fullmatch(props["path"]["pattern"], "/srv/web")
    assert not re.fullmatch(props["path"]["pattern"], "/srv/my app")


def test_the_readme_walkthrough_uses_commands_and_fields_that_exist() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Deploying to servers\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\./run (.+?)(?:\s+#.*)?$", section, re.M)
    assert len(commands) >= 5
    for command in commands:
        build_parser().parse_args(shlex.split(command))  # exits on a wrong one
    (spec,) = re.findall(r"^```json\n(.*?)^```$", section, re.M | re.S)
    project = validate_project(json.loads(spec), create=False)
    assert any(stage.get("on") == "targets" for stage in project["stages"])
    assert {"strategy", "batch_size", "health_check"} <= project.keys()
