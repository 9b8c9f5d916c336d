"""SSH targets against real sshd servers on loopback: shipping releases, target stages,
strategies, health checks and rollback, cancel reaching the remote processes."""

from __future__ import annotations

import uuid

import pytest
from sshd import Sshd

from app.engine import targets
from app.keyring import ssh
from app.keyring.keys import read_keys
from app.keyring.vault import Vault
from app.models import HostKey, Project, Target
from app.settings import Settings


async def add_target(
    vault: Vault, project: Project, server: Sshd, name: str, path: str, *, trust: bool = True
) -> Target:
    """A target row for `server`, its key authorized there and (with `trust`) its host key
    pinned as trusted."""
    target_id = uuid.uuid4()
    pair = ssh.generate(f"capstan:{name}")
    server.authorize(pair.public)
    if trust:
        await HostKey.create(
            project_id=project.id, host=server.host, port=server.port, key=server.host_key,
            fingerprint=ssh.fingerprint(server.host_key), trusted=True,
        )  # fmt: skip
    return await Target.create(
        id=target_id, project=project, name=name, host=server.host, port=server.port,
        user=server.user, path=path, key=ssh.seal(vault, pair.private,
        ssh.target_key_purpose(target_id)), key_public=pair.public,
    )  # fmt: skip


def vault_of(settings: Settings) -> Vault:
    return Vault(*read_keys(settings))


async def test_connect_uses_the_target_key_and_the_pinned_host_key(
    capstan: object, settings: Settings, sshd: Sshd
) -> None:
    vault = vault_of(settings)
    project = await Project.create(name="web", stages=[], webhook_secret="x")
    target = await add_target(vault, project, sshd, "web-1", "/tmp/x")
    async with await targets.connect(vault, target) as conn:
        result = await conn.run("echo hello", check=True)
    assert result.stdout == "hello\n"
    sshd.rekey()
    with pytest.raises(ssh.HostKeyError, match="changed"):
        await targets.connect(vault, target)
