"""Release directories: `projects/{name}/releases/{seq}-{shortsha}` and the `current` symlink.

A release is an export (`git archive`) of the exact commit, taken from a per-project mirror
that is fetched before each deployment. It is unpacked beside its final name and renamed into
place, so a release directory is either complete or absent. `current` is switched by renaming
a new symlink over the old one: there is never a moment without it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.domain.pipeline import SHA
from app.engine.process import OnOutput, run

GIT_TIMEOUT = 600.0
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


class GitError(Exception):
    """A git remote or ref could not be used."""


def release_name(seq: int, commit: str | None) -> str:
    return f"releases/{seq}-{commit[:7]}" if commit else f"releases/{seq}"


def _git_env(base: Mapping[str, str]) -> dict[str, str]:
    return {"PATH": base.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **GIT_ENV}


async def resolve_ref(
    repo_url: str, ref: str, base_env: Mapping[str, str], timeout: float = 30.0
) -> str:
    """The commit `ref` (branch, tag, full ref or sha) points to in `repo_url` right now."""
    if SHA.match(ref):
        return ref
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "ls-remote", "--", repo_url, ref, f"{ref}^{{}}",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_env(base_env),
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise GitError(f"git ls-remote timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise GitError(message[-1] if message else "git ls-remote failed")
    refs: dict[str, str] = {}
    for line in out.decode().splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs:
            return refs[name]
    raise LookupError(ref)


@dataclass(frozen=True)
class Source:
    """Where a release comes from, and how git may be run to fetch it."""

    repo_url: str | None
    commit: str | None
    base_env: Mapping[str, str]


async def prepare(project_dir: Path, source: Source, name: str, on_output: OnOutput) -> Path:
    """Make the release directory `name` (idempotent); return its path."""
    target = project_dir / name
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        if source.repo_url and source.commit:
            env = _git_env(source.base_env)
            mirror = await _sync_mirror(project_dir, source.repo_url, env, on_output)
            await _export(mirror, source.commit, staging, env, on_output)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


async def _git(args: list[str], cwd: Path, env: dict[str, str], on_output: OnOutput) -> None:
    code = await run(
        ["git", *args], cwd=cwd, env=env, timeout=GIT_TIMEOUT, grace=2, on_output=on_output
    )
    if code != 0:
        raise GitError(f"git {args[0]} exited with {code}")


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
    code = await run(
        ["bash", "-eo", "pipefail", "-c", script, "export", str(mirror), commit, str(dest)],
        cwd=dest, env=env, timeout=GIT_TIMEOUT, grace=2, on_output=on_output,
    )  # fmt: skip
    if code != 0:
        raise GitError(f"commit {commit} could not be exported from the mirror")


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


def current_release(project_dir: Path) -> str | None:
    link = project_dir / "current"
    return os.readlink(link) if link.is_symlink() else None


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
