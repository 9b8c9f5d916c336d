"""SSH keys and host-key pinning (app.keyring.ssh) against a real sshd on loopback."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

import asyncssh
import pytest
from conftest import git, running_capstan
from sshd import Sshd

from app.keyring import ssh
from app.models import HostKey, Project
from app.settings import Settings


def test_a_generated_key_is_ed25519_and_its_fingerprint_is_openssh_s(tmp_path: Path) -> None:
    pair = ssh.generate("capstan:web")
    assert pair.public.startswith("ssh-ed25519 ") and pair.public.endswith(" capstan:web")
    (tmp_path / "k.pub").write_text(pair.public)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")],
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert shown.split()[1] == ssh.fingerprint(pair.public)
    assert (
        asyncssh.import_private_key(pair.private).export_public_key("openssh").decode().split()[1]
        == pair.public.split()[1]
    )
    with pytest.raises(ValueError):
        ssh.parse_public("ssh-ed25519 not-base64!")


async def test_a_host_is_refused_until_its_key_is_trusted_and_again_when_it_changes(
    capstan: object, sshd: Sshd
) -> None:
    project = await Project.create(name="pinned", stages=[], webhook_secret="x")
    with pytest.raises(ssh.HostKeyError, match="not trusted yet: SHA256:"):
        await ssh.check_host(project.id, sshd.host, sshd.port)
    seen = await HostKey.get(project_id=project.id)
    assert seen.key == sshd.host_key and not seen.trusted
    seen.trusted = True
    await seen.save()
    assert await ssh.check_host(project.id, sshd.host, sshd.port) == [sshd.host_key]
    sshd.rekey()
    with pytest.raises(ssh.HostKeyError, match="changed") as refused:
        await ssh.check_host(project.id, sshd.host, sshd.port)
    assert seen.fingerprint in str(refused.value)
    assert await HostKey.filter(project_id=project.id, trusted=False).count() == 1


def test_git_clones_over_ssh_with_only_the_key_and_the_pinned_host(
    sshd: Sshd, tmp_path: Path
) -> None:
    bare = tmp_path / "app.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / "a.txt").write_text("hello\n")
    git(work, "add", "a.txt")
    git(work, "commit", "-q", "-m", "one")
    git(work, "push", "-q", "origin", "HEAD:main")
    pair = ssh.generate("test")
    sshd.authorize(pair.public)
    url = f"ssh://{sshd.user}@{sshd.host}:{sshd.port}{bare}"
    line = ssh.known_hosts(sshd.host, sshd.port, [sshd.host_key])
    with ssh.key_files(pair.private, line, tmp_path / "scratch") as (key, hosts):
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
               "GIT_SSH_COMMAND": ssh.ssh_command(key, hosts)}  # fmt: skip
        subprocess.run(["git", "clone", "-q", url, str(tmp_path / "out")], env=env, check=True)
    assert (tmp_path / "out" / "a.txt").read_text() == "hello\n"
    assert not key.exists()


async def test_a_host_name_dns_cannot_encode_is_unreachable_not_an_error() -> None:
    for host in ("a..b", "a" * 64 + ".example.com"):
        with pytest.raises(ssh.HostUnreachable, match=f"cannot reach {host}:22"):
            await ssh.scan(host, 22)


def test_key_files_live_in_a_private_directory_that_is_removed_after_the_block(
    tmp_path: Path,
) -> None:
    root = ssh.scratch(tmp_path / "data")
    with ssh.key_files("private", "pins", root) as (key, pins):
        assert key.parent.parent == root and key.parent.name.startswith(f"{os.getpid()}-")
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(key.stat().st_mode) == stat.S_IMODE(pins.stat().st_mode) == 0o600
        assert key.read_text() == "private\n"
    assert list(root.iterdir()) == []


async def test_key_files_a_killed_server_left_are_removed_when_capstan_starts(
    settings: Settings,
) -> None:
    root = ssh.scratch(settings.data_dir)
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    left = root / f"{dead.pid}-x1"  # a SIGKILLed server's git was using this key
    left.mkdir(parents=True)
    (left / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    live = root / f"{os.getpid()}-x2"  # another Capstan process on this data dir, still running
    live.mkdir()
    async with running_capstan(settings):
        assert not left.exists() and live.is_dir()
