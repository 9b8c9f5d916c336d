"""SSH targets against real sshd servers on loopback: shipping releases, target stages,
strategies, health checks and rollback, cancel reaching the remote processes."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
from conftest import Capstan, Repo
from sshd import Sshd

from app.engine import targets
from app.keyring import ssh
from app.keyring.keys import read_keys
from app.keyring.vault import Vault
from app.models import HostKey, Project, Target


async def add_target(capstan: Capstan, project: str, server: Sshd, name: str, path: Path) -> Target:
    """A target row for `server` (its own key, authorized there; its host key trusted)."""
    vault = Vault(*read_keys(capstan.settings))
    row = await Project.get(name=project)
    target_id = uuid.uuid4()
    pair = ssh.generate(f"capstan:{name}")
    server.authorize(pair.public)
    pinned = HostKey.filter(project_id=row.id, host=server.host, port=server.port)
    if not await pinned.exists():
        await HostKey.create(
            project_id=row.id, host=server.host, port=server.port, key=server.host_key,
            fingerprint=ssh.fingerprint(server.host_key), trusted=True,
        )  # fmt: skip
    sealed = ssh.seal(vault, pair.private, ssh.target_key_purpose(target_id))
    return await Target.create(
        id=target_id, project=row, name=name, host=server.host, port=server.port,
        user=server.user, path=str(path), key=sealed, key_public=pair.public,
    )  # fmt: skip


def current(path: Path) -> str:
    return os.readlink(path / "current")


def processes(marker: str) -> list[str]:
    """Command lines of the live processes that contain `marker` (none of this test's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if marker in line and "pgrep" not in line:
                    found.append(line)
    return found


async def test_connect_uses_the_target_key_and_refuses_a_changed_host_key(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    await capstan.create_project()
    target = await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    vault = Vault(*read_keys(capstan.settings))
    async with await targets.connect(vault, target) as conn:
        result = await conn.run("echo hello", check=True)
    assert result.stdout == "hello\n"
    sshd.rekey()
    with pytest.raises(ssh.HostKeyError, match="changed"):
        await targets.connect(vault, target)


async def test_a_rolling_deployment_reaches_each_host_in_turn_and_ships_only_what_changed(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], repo: Repo, tmp_path: Path
) -> None:
    repo.commit({"big.txt": "unchanged\n" * 1000})
    stages = [
        {"name": "build", "run": "echo built > built.txt"},
        {"name": "deploy", "run": 'echo "on $CAPSTAN_TARGET: $(cat app.txt) $(cat built.txt)"',
         "on": "targets"},
    ]  # fmt: skip
    await capstan.create_project(
        repo_url=repo.url, stages=stages, strategy="rolling", batch_size=1, keep_releases=2
    )
    a, b = tmp_path / "a", tmp_path / "b"
    await add_target(capstan, "web", sshd_pair[0], "web-1", a)
    await add_target(capstan, "web", sshd_pair[1], "web-2", b)
    first = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    release = first["release"]
    assert current(a) == current(b) == release
    assert (a / "current/built.txt").read_text() == "built\n"
    log = await capstan.log(first["id"])
    assert "[web-1] on web-1: v1 built" in log and "[web-2] on web-2: v1 built" in log
    assert (
        log.index("batch 1 of 2: web-1")
        < log.index("[web-1] on web-1")
        < log.index("web-1: current -> ")
        < log.index("batch 2 of 2: web-2")
        < log.index("[web-2] on web-2")
    )
    assert [t["status"] for t in first["targets"]] == ["healthy", "healthy"]  # fmt: skip

    repo.commit({"app.txt": "v2\n"})
    second = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert current(a) == current(b) == second["release"]
    assert (a / "current/app.txt").read_text() == "v2\n"
    old, new = a / release, a / second["release"]
    assert (old / "big.txt").stat().st_ino == (new / "big.txt").stat().st_ino
    assert (old / "app.txt").stat().st_ino != (new / "app.txt").stat().st_ino
    assert [t["previous"] for t in second["targets"]] == [Path(release).name] * 2
    rows = await Target.filter(name__in=["web-1", "web-2"]).order_by("name")
    assert [t.current_release for t in rows] == [second["release"]] * 2
