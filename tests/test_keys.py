"""The master key: checked at start, and rotated under a running server."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import subprocess
import sys

from conftest import running_capstan

from app.keyring import ssh
from app.keyring.vault import Vault, key_id, token_key_id
from app.models import Project, Target
from app.settings import Settings

VALUE = "the-database-password-42"
CHECK = f'echo -n "$DB_PASSWORD" | sha256sum | grep -q {hashlib.sha256(VALUE.encode()).hexdigest()}'


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(settings.data_dir),
        "CAPSTAN_DATA_DIR": str(settings.data_dir),
        "CAPSTAN_DATABASE_URL": settings.database_url,
        "CAPSTAN_REDIS_URL": settings.redis_url,
    }
    return {**env, **extra}


async def cli(settings: Settings, *args: str, stdin: bytes = b"", **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args,
        env=cli_env(settings, **env), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_a_wrong_or_missing_key_stops_the_server_with_a_clear_message(
    settings: Settings,
) -> None:
    async with running_capstan(settings) as capstan:
        await capstan.create_project()
    code, out = await cli(settings, "serve", CAPSTAN_MASTER_KEY="cd" * 32, CAPSTAN_PORT="9")
    assert code == 2 and "fatal: the master key" in out and "cannot decrypt" in out
    code, out = await cli(settings, "serve", CAPSTAN_PORT="9")
    assert code == 2 and "master.key is missing" in out
    code, out = await cli(settings, "secrets", "check", CAPSTAN_MASTER_KEY="cd" * 32)
    assert code == 1 and "cannot decrypt project" in out
    code, out = await cli(settings, "secrets", "check", CAPSTAN_MASTER_KEY=settings.master_key)
    assert code == 0 and "1 value(s) under key" in out


async def test_rotation_on_a_running_server_keeps_every_deployment_right(
    settings: Settings,
) -> None:
    local = dataclasses.replace(settings, master_key="")
    stages = [{"name": "check", "run": CHECK}]
    async with running_capstan(local) as capstan:
        old_key = bytes.fromhex((local.data_dir / "master.key").read_text())
        await capstan.create_project(stages=stages)
        await capstan.create_project(
            "gated", stages=[{"name": "gate", "approval": True}, {"name": "check", "run": CHECK}]
        )
        for project in ("web", "gated"):
            response = await capstan.http.put(
                f"/api/v1/projects/{project}/secrets/DB_PASSWORD", json={"value": VALUE}
            )
            assert response.status_code == 204
        before = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
        parked = await capstan.trigger("gated")
        await capstan.awaiting_approval(parked["id"])

        new_key = os.urandom(32)
        rotation = asyncio.create_task(
            cli(local, "secrets", "rotate-key", stdin=new_key.hex().encode())
        )
        during = [await capstan.trigger() for _ in range(3)]
        code, out = await rotation
        assert code == 0, out
        assert f"under key {key_id(new_key)}" in out
        assert not (local.data_dir / "master.key.old").exists()
        audit = (await capstan.http.get("/api/v1/audit?action=key.rotate")).json()["events"]
        assert audit[0]["details"]["key_id"] == key_id(new_key)
        assert bytes.fromhex((local.data_dir / "master.key").read_text()) == new_key

        await capstan.approve(parked["id"])
        after = await capstan.trigger()
        for dep in (parked, *during, after):
            done = await capstan.wait_for(dep["id"], "COMPLETED", "FAILED")
            assert done["status"] == "COMPLETED", (done, await capstan.log(dep["id"]))
        assert before["status"] == "COMPLETED"

    code, out = await cli(local, "secrets", "check")
    assert code == 0 and f"under key {key_id(new_key)}: ok" in out and key_id(old_key) not in out
    async with running_capstan(local) as capstan:
        dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED", "FAILED")
        assert dep["status"] == "COMPLETED"


async def test_rotation_re_encrypts_deploy_keys_and_target_keys(settings: Settings) -> None:
    local = dataclasses.replace(settings, master_key="")
    async with running_capstan(local) as capstan:
        old_key = bytes.fromhex((local.data_dir / "master.key").read_text())
        await capstan.create_project()
        made = await capstan.http.post("/api/v1/projects/web/deploy-key")
        target = {"name": "app-1", "host": "127.0.0.1", "user": "deploy", "path": "/srv/web"}
        added = await capstan.http.post("/api/v1/projects/web/targets", json=target)
        assert made.status_code == added.status_code == 201, (made.text, added.text)
        project, server = await Project.get(name="web"), await Target.get(name="app-1")
        assert project.deploy_key is not None
        before = Vault(old_key)
        private = before.decrypt(project.deploy_key, ssh.deploy_key_purpose(project.id))
        target_private = before.decrypt(server.key, ssh.target_key_purpose(server.id))

        new_key = os.urandom(32)
        code, out = await cli(local, "secrets", "rotate-key", stdin=new_key.hex().encode())
        assert code == 0, out
        project, server = await Project.get(name="web"), await Target.get(name="app-1")
        assert project.deploy_key is not None
        assert token_key_id(project.deploy_key) == token_key_id(server.key) == key_id(new_key)
        after = Vault(new_key)
        assert after.decrypt(project.deploy_key, ssh.deploy_key_purpose(project.id)) == private
        assert after.decrypt(server.key, ssh.target_key_purpose(server.id)) == target_private
        shown = await capstan.http.get("/api/v1/projects/web/deploy-key")
        assert shown.json() == made.json()
    code, out = await cli(local, "secrets", "check")
    assert code == 0 and f"under key {key_id(new_key)}: ok" in out and key_id(old_key) not in out


async def test_users_and_tokens_from_the_command_line(settings: Settings) -> None:
    async with running_capstan(settings) as capstan:
        password = b"a long enough passphrase\n"
        code, out = await cli(settings, "user", "create", "bob", "--role", "viewer", stdin=password)
        assert code == 0, out
        code, out = await cli(settings, "user", "create", "eve", stdin=b"password\n")
        assert code == 1 and "too common" in out
        code, token = await cli(settings, "token", "create", "bob", "--name", "ci")
        assert code == 0 and token.strip().startswith("cap_")
        headers = {"Authorization": f"Bearer {token.strip()}"}
        me = await capstan.http.get("/api/v1/me", headers=headers)
        assert me.json()["username"] == "bob" and me.json()["role"] == "viewer"
        code, out = await cli(settings, "user", "passwd", "bob", stdin=b"another fine passphrase\n")
        assert code == 0, out
        login = {"username": "bob", "password": "another fine passphrase"}
        response = await capstan.http.post("/login", json=login, headers={"Authorization": ""})
        assert response.status_code == 200
