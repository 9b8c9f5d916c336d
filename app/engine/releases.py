"""Release directories: `projects/{name}/releases/{seq}-{shortsha}` and the `current` symlink.

A release is an export (`git archive`) of the exact commit, taken from a per-project mirror
that is fetched before each deployment. It is unpacked beside its final name and renamed into
place, so a release directory is either complete or absent. `current` is switched by renaming
a new symlink over the old one: there is never a moment without it.

When git fails, its error names the command, its exit code and git's own last words
(`fatal: ...`), with any credentials in URLs blanked.

Over SSH, git uses the project's deploy key and nothing else: before git runs, the host's key
is checked against the project's pinned host keys (`app.keyring.ssh.check_host`), and git's
ssh gets only the trusted keys as its known_hosts and the deploy key, both in 0600 files that
exist for the block git runs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.domain import repos
from app.domain.pipeline import SHA
from app.domain.repos import Remote
from app.engine.process import OnOutput, run
from app.keyring import ssh
from app.keyring.vault import Vault, VaultError

GIT_TIMEOUT = 600.0
GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "LC_ALL": "C",
    "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file",  # never ext:: or other helpers
}
# Answers git's credential requests from its environment: credentials never appear in a URL
# stored in the mirror's config, nor in any process's arguments.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get && '
    'printf "username=%s\\npassword=%s\\n" "$CAPSTAN_GIT_USERNAME" "$CAPSTAN_GIT_PASSWORD"; }; f'
)
TAIL_BYTES = 4096
OWNER_FILE = ".project-id"  # in a project's directory: the id of the project it belongs to
DELETED_DIR = ".deleted"  # in the projects directory: deleted projects' directories
URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


class GitError(Exception):
    """A git remote or ref could not be used."""


class HostKeyRefused(GitError):
    """The repository's SSH host offers a key the project does not trust (yet, or any more)."""


NO_DEPLOY_KEY = (
    "the project has no deploy key (generate one with `capstan deploy-key generate` or on "
    "the project's Access page, and add its public key to the repository)"
)


@dataclass(frozen=True)
class Access:
    """What git needs to reach a project's repository over SSH: the project (host keys are
    pinned per project), its sealed deploy key if it has one, the vault that opens it, and
    the directory its file is made in."""

    project_id: object
    deploy_key: str | None
    vault: Vault
    scratch: Path  # where the deploy key's file is made while git runs (`ssh.scratch`)


@contextlib.asynccontextmanager
async def _reach(remote: Remote, access: Access | None) -> AsyncIterator[dict[str, str]]:
    """What git's environment needs, for the block, to reach `remote`: nothing unless it is
    an ssh URL; then `GIT_SSH_COMMAND` with the deploy key and the host's trusted keys."""
    try:
        where = repos.ssh_host(remote.url)
    except ValueError as exc:
        raise GitError(f"repo_url: {exc}") from None
    if where is None or access is None:
        yield {}
        return
    try:
        trusted = await ssh.check_host(access.project_id, where.host, where.port)
    except ssh.HostUnreachable as exc:
        raise GitError(str(exc)) from None
    except ssh.HostKeyError as exc:
        raise HostKeyRefused(str(exc)) from None
    known = ssh.known_hosts(where.host, where.port, trusted)
    private = None
    if access.deploy_key:
        purpose = ssh.deploy_key_purpose(access.project_id)
        try:
            private = access.vault.decrypt(access.deploy_key, purpose)
        except VaultError as exc:
            raise GitError(f"the project's deploy key cannot be decrypted: {exc}") from None
    with ssh.key_files(private or "", known, access.scratch) as (key, hosts):
        try:
            yield {"GIT_SSH_COMMAND": ssh.ssh_command(key if private else None, hosts)}
        except GitError as exc:
            if private is None:
                raise GitError(f"{exc}; {NO_DEPLOY_KEY}") from None
            raise


def project_dir(projects: Path, name: str, project_id: object) -> Path:
    """`projects/{name}`, this project's own. A directory a deleted project of the same name
    left (its mirror, releases, cache and `current`) is moved aside first, so nothing of it
    becomes the new project's; one from before directories were marked is adopted."""
    path = projects / name
    owner = path / OWNER_FILE
    found = owner.read_text().strip() if owner.is_file() else None
    if found == str(project_id):
        return path
    if found is not None:
        _move_aside(projects, name, found)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f"{OWNER_FILE}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(f"{project_id}\n")
    os.replace(tmp, owner)
    return path


def retire_project_dir(projects: Path, name: str, project_id: object) -> None:
    """A deleted project's directory goes to `projects/.deleted/`, out of any new project's
    way (Capstan never removes it: `current` may still be served from it)."""
    owner = projects / name / OWNER_FILE
    found = owner.read_text().strip() if owner.is_file() else None
    if (projects / name).is_dir() and found in (None, str(project_id)):
        _move_aside(projects, name, str(project_id))


def _move_aside(projects: Path, name: str, project_id: str) -> None:
    aside = projects / DELETED_DIR
    aside.mkdir(exist_ok=True)
    os.rename(projects / name, aside / f"{name}.{project_id}.{uuid.uuid4().hex[:8]}")


def release_name(seq: int, commit: str | None) -> str:
    return f"releases/{seq}-{commit[:7]}" if commit else f"releases/{seq}"


def _git_env(base: Mapping[str, str], remote: Remote | None = None) -> dict[str, str]:
    env = {"PATH": base.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **GIT_ENV}
    if remote is not None and remote.username is not None:
        env.update(
            GIT_CONFIG_COUNT="2",
            GIT_CONFIG_KEY_0="credential.helper",
            GIT_CONFIG_VALUE_0="",  # no helper of the system's
            GIT_CONFIG_KEY_1="credential.helper",
            GIT_CONFIG_VALUE_1=CREDENTIAL_HELPER,
            CAPSTAN_GIT_USERNAME=remote.username,
            CAPSTAN_GIT_PASSWORD=remote.password or "",
        )
    return env


async def resolve_ref(
    remote: Remote,
    ref: str,
    base_env: Mapping[str, str],
    timeout: float = 30.0,
    access: Access | None = None,
) -> str:
    """The commit `ref` (branch, tag, full ref or sha) points to in `remote` right now."""
    if SHA.fullmatch(ref):
        return ref
    async with _reach(remote, access) as reach:
        out = await _ls_remote(remote, ref, {**_git_env(base_env, remote), **reach}, timeout)
    refs: dict[str, str] = {}
    for line in out.decode().splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs:
            return refs[name]
    raise LookupError(ref)


async def _ls_remote(remote: Remote, ref: str, env: dict[str, str], timeout: float) -> bytes:
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "ls-remote", "--", remote.url, ref, f"{ref}^{{}}",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise GitError(f"git ls-remote timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        raise GitError(_reason(err) or "git ls-remote failed")
    return out


@dataclass(frozen=True)
class Mirror:
    """A project's bare mirror, just fetched, and the environment git runs in there."""

    path: Path
    env: dict[str, str]

    async def git(self, *args: str, timeout: float = 60.0) -> tuple[int, str]:
        """Run `git <args>` in the mirror: (exit code, stdout). Stops git if cancelled."""
        proc = await asyncio.create_subprocess_exec(
            "git", "-C", str(self.path), *args,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=self.env,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace")


Vet = Callable[[Mirror], Awaitable[None]]


@dataclass(frozen=True)
class Source:
    """Where a release comes from, and how git may be run to fetch it."""

    remote: Remote | None
    commit: str | None
    base_env: Mapping[str, str]
    access: Access | None = None


async def prepare(
    project_dir: Path, source: Source, name: str, on_output: OnOutput, vet: Vet | None = None
) -> Path:
    """Make the release directory `name` (idempotent); return its path. `vet` looks at the
    fetched mirror before the export, and may raise to stop it (nothing is made then)."""
    target = project_dir / name
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        if source.remote and source.commit:
            async with _reach(source.remote, source.access) as reach:
                env = {**_git_env(source.base_env, source.remote), **reach}
                mirror = await _sync_mirror(project_dir, source.remote.url, env, on_output)
                if vet is not None:
                    await vet(Mirror(mirror, env))
                await _export(mirror, source.commit, staging, env, on_output)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


class _Tail:
    """Passes output on and keeps its end: git's reason when it fails."""

    def __init__(self, on_output: OnOutput) -> None:
        self.on_output = on_output
        self.data = b""

    async def __call__(self, chunk: bytes) -> None:
        self.data = (self.data + chunk)[-TAIL_BYTES:]
        await self.on_output(chunk)

    def reason(self) -> str:
        return _reason(self.data)


def _reason(output: bytes) -> str:
    """The last two lines up to git's last `fatal:`/`error:` (or the last two lines)."""
    lines = [line.strip() for line in output.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    last = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "error:"))]
    if last:
        lines = lines[: last[-1] + 1]
    return URL_USERINFO.sub("***@", "; ".join(lines[-2:]))[:500]


def _failure(message: str, tail: _Tail) -> GitError:
    reason = tail.reason()
    return GitError(f"{message}: {reason}" if reason else message)


async def _git(args: list[str], cwd: Path, env: dict[str, str], on_output: OnOutput) -> None:
    tail = _Tail(on_output)
    code = await run(["git", *args], cwd=cwd, env=env, timeout=GIT_TIMEOUT, grace=2, on_output=tail)
    if code != 0:
        raise _failure(f"git {args[0]} exited with {code}", tail)


async def _sync_mirror(
    project_dir: Path, repo_url: str, env: dict[str, str], on_output: OnOutput
) -> Path:
    mirror = project_dir / "mirror.git"
    if (mirror / "HEAD").exists():
        await _git(["remote", "set-url", "origin", repo_url], mirror, env, on_output)
        await _git(["fetch", "--prune", "--quiet", "origin"], mirror, env, on_output)
    else:
        shutil.rmtree(mirror, ignore_errors=True)
        clone = ["clone", "--mirror", "--quiet", "--", repo_url, str(mirror)]
        await _git(clone, project_dir, env, on_output)
    return mirror


async def _export(
    mirror: Path, commit: str, dest: Path, env: dict[str, str], on_output: OnOutput
) -> None:
    """`git archive <commit> | tar -x`: the tree of the commit, without `.git`."""
    script = 'git -C "$1" archive --format=tar "$2^{commit}" | tar -x -C "$3"'
    tail = _Tail(on_output)
    code = await run(
        ["bash", "-eo", "pipefail", "-c", script, "export", str(mirror), commit, str(dest)],
        cwd=dest, env=env, timeout=GIT_TIMEOUT, grace=2, on_output=tail,
    )  # fmt: skip
    if code != 0:
        raise _failure(f"commit {commit} could not be exported from the mirror", tail)


def activate(project_dir: Path, name: str) -> None:
    """Point `current` at release `name` atomically (rename of a fresh symlink over it)."""
    link = project_dir / "current"
    tmp = project_dir / f".current.{uuid.uuid4().hex[:8]}"
    os.symlink(name, tmp)
    os.replace(tmp, link)
    fd = os.open(project_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(project_dir: Path, keep: int, protect: set[str]) -> list[str]:
    """Delete all but the `keep` newest releases, never one named in `protect`."""
    releases = project_dir / "releases"
    if not releases.is_dir():
        return []
    names = [p.name for p in releases.iterdir() if p.is_dir() and not p.name.startswith(".")]
    names.sort(key=_seq_of, reverse=True)
    removed = []
    for old in names[keep:]:
        if f"releases/{old}" in protect:
            continue
        shutil.rmtree(releases / old, ignore_errors=True)
        removed.append(f"releases/{old}")
    return removed


def _seq_of(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else -1
