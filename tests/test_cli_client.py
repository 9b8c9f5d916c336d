"""The client commands (`projects`, `approve`, `cancel`, `rollback`, `secrets set | ls | rm`,
`users`, `tokens`), run as real processes against a real server; `--json` parsed; exit
statuses a script can rely on."""

from __future__ import annotations

import json
from typing import Any

from conftest import Capstan
from sshd import Sshd
from test_cli import capstan_cli

from app.keyring import ssh

OK, ERROR, USAGE, NOT_FOUND, CONFLICT, DENIED = 0, 1, 2, 3, 4, 5


async def cli_json(capstan: Capstan, *args: str, stdin: str = "") -> dict[str, Any]:
    code, out, err = await capstan_cli(capstan, *args, "--json", stdin=stdin)
    assert code == OK, err
    body: dict[str, Any] = json.loads(out)
    return body


async def test_projects_are_created_listed_shown_and_deleted(capstan: Capstan) -> None:
    created = await cli_json(capstan, "projects", "create", "web", "--branch", "prod",
                             "--stage", "build=echo built", "--gate", "approve",
                             "--stage", "ship=echo shipped")  # fmt: skip
    assert created["branch"] == "prod" and created["webhook_secret"]
    build, gate, ship = created["stages"]
    assert (build["name"], build["run"]) == ("build", "echo built")
    assert (gate["name"], gate["approval"]) == ("approve", True)
    assert (ship["name"], ship["run"]) == ("ship", "echo shipped")
    code, _, err = await capstan_cli(capstan, "projects", "create", "web", "--stage", "b=true")
    assert code == CONFLICT, err
    spec = {"name": "api", "stages": [{"name": "test", "run": "true"}], "keep_releases": 2}
    from_file = await cli_json(capstan, "projects", "create", "--file", "-", stdin=json.dumps(spec))
    assert from_file["keep_releases"] == 2
    listed = await cli_json(capstan, "projects")
    assert [p["name"] for p in listed["projects"]] == ["api", "web"]
    code, out, _ = await capstan_cli(capstan, "projects", "show", "web")
    assert code == OK and "[approval]" in out and "echo shipped" in out
    assert (await cli_json(capstan, "projects", "show", "api"))["id"] == from_file["id"]
    code, _, err = await capstan_cli(capstan, "projects", "show", "nope")
    assert code == NOT_FOUND and "project_not_found" in err
    code, _, err = await capstan_cli(capstan, "projects", "create", "lonely")
    assert code == USAGE and "--stage" in err
    assert await cli_json(capstan, "projects", "rm", "api") == {"deleted": "api"}
    code, out, _ = await capstan_cli(capstan, "projects", "ls")
    assert code == OK and out.split()[0] == "web" and "api" not in out


async def test_approve_cancel_and_rollback_drive_deployments(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "approve", "approval": True}, {"name": "ship", "run": "echo shipped"}]
    )

    async def deploy() -> str:
        code, out, err = await capstan_cli(capstan, "deploy", "web")
        assert code == OK, err
        dep_id = out.strip()
        await capstan.awaiting_approval(dep_id)
        return dep_id

    first = await deploy()
    assert (await cli_json(capstan, "approve", first))["id"] == first
    await capstan.wait_for(first, "COMPLETED")
    code, _, err = await capstan_cli(capstan, "approve", first)
    assert code == CONFLICT and "not_awaiting_approval" in err
    code, _, err = await capstan_cli(capstan, "cancel", first)
    assert code == CONFLICT and "already_finished" in err

    stopped = await deploy()
    assert (await cli_json(capstan, "rollback", stopped))["status"] == "ROLLED_BACK"
    cancelled = await deploy()
    code, out, _ = await capstan_cli(capstan, "cancel", cancelled)
    assert code == OK and out == f"deployment {cancelled}: CANCELLED\n"

    second = await deploy()
    await capstan.approve(second)
    await capstan.wait_for(second, "COMPLETED")
    back = await cli_json(capstan, "rollback", "--project", "web", "--to", first)
    assert back["kind"] == "rollback"
    await capstan.wait_for(back["id"], "COMPLETED")
    project = await cli_json(capstan, "projects", "show", "web")
    assert project["current_deployment"] == back["id"]

    code, _, err = await capstan_cli(capstan, "rollback")
    assert code == USAGE and "--project" in err
    code, _, _ = await capstan_cli(capstan, "cancel", "00000000-0000-0000-0000-000000000000")
    assert code == NOT_FOUND


async def test_secrets_are_set_from_stdin_listed_and_removed(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "check", "run": 'test "$API_KEY" = "s3cr3t v"'}])
    code, out, err = await capstan_cli(capstan, "secrets", "set", "web", "API_KEY",
                                       stdin="s3cr3t v\n")  # fmt: skip
    assert code == OK, err
    assert "s3cr3t" not in out
    listed = await cli_json(capstan, "secrets", "ls", "web")
    assert [s["name"] for s in listed["secrets"]] == ["API_KEY"]
    assert "s3cr3t" not in json.dumps(listed)
    code, _, err = await capstan_cli(capstan, "deploy", "web", "--follow")
    assert code == OK, err  # the stage saw the value, without the newline that ended it
    removed = await cli_json(capstan, "secrets", "rm", "web", "API_KEY")
    assert removed == {"project": "web", "deleted": "API_KEY"}
    code, _, err = await capstan_cli(capstan, "secrets", "rm", "web", "API_KEY")
    assert code == NOT_FOUND and "secret_not_found" in err
    code, _, err = await capstan_cli(capstan, "secrets", "set", "nope", "X_1", stdin="value")
    assert code == NOT_FOUND


async def test_users_and_tokens_are_managed_through_the_server(capstan: Capstan) -> None:
    bob = await cli_json(capstan, "users", "create", "bob", "--role", "developer",
                         stdin="a long passphrase\n")  # fmt: skip
    assert bob["username"] == "bob" and bob["role"] == "developer"
    code, _, err = await capstan_cli(capstan, "users", "create", "bob", stdin="another one!\n")
    assert code == CONFLICT and "user_exists" in err
    changed = await cli_json(capstan, "users", "set", "bob", "--role", "viewer", "--disable")
    assert changed["role"] == "viewer" and changed["disabled"] is True
    listed = await cli_json(capstan, "users", "ls")
    assert {u["username"] for u in listed["users"]} == {"admin", "bob"}
    code, _, _ = await capstan_cli(capstan, "users", "set", "nobody", "--role", "viewer")
    assert code == NOT_FOUND
    code, _, err = await capstan_cli(capstan, "users", "set", "admin", "--disable")
    assert code == CONFLICT and "last_admin" in err

    token = await cli_json(capstan, "tokens", "create", "--name", "ci", "--expires-days", "7")
    assert token["token"].startswith("cap_") and token["expires_at"]
    code, _out, _ = await capstan_cli(capstan, "projects", token=token["token"])
    assert code == OK
    mine = await cli_json(capstan, "tokens")
    assert "ci" in [t["name"] for t in mine["tokens"]]
    assert token["token"] not in json.dumps(mine)
    assert await cli_json(capstan, "tokens", "revoke", token["id"]) == {"revoked": token["id"]}
    code, _, err = await capstan_cli(capstan, "projects", token=token["token"])
    assert code == DENIED, err
    code, _, _ = await capstan_cli(capstan, "tokens", "revoke", token["id"])
    assert code == NOT_FOUND
    code, _, _ = await capstan_cli(capstan, "users", "ls", token="")
    assert code == DENIED

    assert await cli_json(capstan, "users", "rm", "bob") == {"deleted": "bob"}
    code, _, _ = await capstan_cli(capstan, "users", "rm", "bob")
    assert code == NOT_FOUND


async def test_deploy_keys_and_host_keys_are_managed_through_the_server(
    capstan: Capstan, sshd: Sshd
) -> None:
    await capstan.create_project()
    code, _, err = await capstan_cli(capstan, "deploy-key", "show", "web")
    assert code == NOT_FOUND and "no_deploy_key" in err
    code, out, err = await capstan_cli(capstan, "deploy-key", "generate", "web")
    assert code == OK, err
    public = out.strip()  # the line alone on stdout, for `| pbcopy` or a forge's CLI
    assert public.startswith("ssh-ed25519 ") and public.endswith(" capstan:web")
    assert f"fingerprint {ssh.fingerprint(public)}" in err
    assert (await cli_json(capstan, "deploy-key", "show", "web"))["public_key"] == public

    code, out, err = await capstan_cli(capstan, "host-keys", "scan", "web", sshd.host,
                                       "--port", str(sshd.port))  # fmt: skip
    assert code == OK, err
    assert "NOT TRUSTED" in out and ssh.fingerprint(sshd.host_key) in out
    assert f"[127.0.0.1]:{sshd.port}" in out and "host-keys accept" in err
    accepted = await cli_json(capstan, "host-keys", "accept", "web", out.split()[0])
    assert accepted["trusted"] is True and accepted["accepted_by"] == "admin"
    added = await cli_json(capstan, "host-keys", "add", "web",
                           stdin=f"# ours\ngit.example {sshd.host_key}\n")  # fmt: skip
    [pin] = added["host_keys"]
    assert (pin["host"], pin["port"], pin["trusted"]) == ("git.example", 22, True)
    code, out, _ = await capstan_cli(capstan, "host-keys", "list", "web")
    assert code == OK and "NOT TRUSTED" not in out and out.count("trusted by admin") == 2
    code, _, err = await capstan_cli(capstan, "host-keys", "add", "web",
                                     stdin=f"*.example {sshd.host_key}\n")  # fmt: skip
    assert code == ERROR and "line 1" in err and "wildcards" in err
    code, _, err = await capstan_cli(capstan, "host-keys", "add", "web", "/nonexistent/hosts")
    assert code == USAGE and "cannot read" in err

    removed = await cli_json(capstan, "host-keys", "remove", "web", str(pin["id"]))
    assert removed == {"project": "web", "deleted": str(pin["id"])}
    code, _, err = await capstan_cli(capstan, "host-keys", "remove", "web", str(pin["id"]))
    assert code == NOT_FOUND and "host_key_not_found" in err
    code, out, _ = await capstan_cli(capstan, "deploy-key", "remove", "web")
    assert code == OK and out == "deleted the deploy key of web\n"
    code, _, _ = await capstan_cli(capstan, "deploy-key", "show", "web")
    assert code == NOT_FOUND
