"""Stage processes: run a bash script in its own session and stop its whole process tree.

Killing one pid leaves its children running; every stop here signals the process group
(SIGTERM, a grace period, then SIGKILL). Processes also carry `CAPSTAN_DEPLOYMENT_ID` in their
environment, so leftovers of a crashed server can be found and stopped on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

READ_SIZE = 256 * 1024
DRAIN_SECONDS = 5.0

OnOutput = Callable[[bytes], Awaitable[None]]


class StageTimeout(Exception):
    """The stage ran longer than its `timeout`."""


def bash(script: str) -> list[str]:
    """The argv of a stage script: `bash -eo pipefail -c <script>`."""
    return ["bash", "-eo", "pipefail", "-c", script]


async def run(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    grace: float,
    on_output: OnOutput,
    sandboxed: bool = False,
) -> int:
    """Run `argv` in a new session; stream its merged stdout and stderr to `on_output`.

    Returns the exit code (128 + signal number when killed by a signal). Raises StageTimeout
    after `timeout` seconds and re-raises CancelledError; either way the process group is
    stopped before this returns. Processes left in the group after the leader exits are
    stopped too: a stage leaves nothing running behind it. A `sandboxed` leader (bwrap or
    unshare) is spared the SIGTERM: the stage's own processes get it and may clean up, and the
    sandbox ends with them (bwrap would SIGKILL them at once if it died first).
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    spare = proc.pid if sandboxed else None
    reader = asyncio.create_task(_pump(proc.stdout, on_output))
    waiter = asyncio.create_task(_exit_code(proc))
    try:
        async with asyncio.timeout(timeout):
            await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and reader.exception():
                raise reader.exception()  # type: ignore[misc]
            code = await waiter
    except TimeoutError:
        await _stop(proc.pid, grace, reader, spare)
        raise StageTimeout(f"timed out after {timeout:g} s") from None
    except BaseException:
        waiter.cancel()
        await _stop(proc.pid, grace, reader, spare)
        raise
    await _stop(proc.pid, grace, reader, spare)
    return code if code >= 0 else 128 - code


async def _exit_code(proc: asyncio.subprocess.Process) -> int:
    """Wait for the process itself to exit. (`proc.wait()` also waits for its pipes to close,
    which a background child holding stdout can delay forever.)"""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        fd = -1
    if fd >= 0:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, on_exit)
        try:
            await exited
        finally:
            loop.remove_reader(fd)
            os.close(fd)
    while proc.returncode is None:
        await asyncio.sleep(0.005)
    return proc.returncode


async def _pump(stream: asyncio.StreamReader, on_output: OnOutput) -> None:
    while data := await stream.read(READ_SIZE):
        await on_output(data)


async def _stop(pgid: int, grace: float, reader: asyncio.Task[None], spare: int | None) -> None:
    """Stop what is left of the group, then let the reader drain what was written."""
    await asyncio.shield(asyncio.to_thread(kill_group, pgid, grace, spare))
    await asyncio.wait({reader}, timeout=DRAIN_SECONDS)
    reader.cancel()


def kill_group(pgid: int, grace: float, spare: int | None = None) -> bool:
    """SIGTERM the process group (but `spare`), wait up to `grace` seconds, then SIGKILL it.

    Returns whether any process of the group was still alive. Blocking: run it in a thread.
    """
    if spare is None:
        if not _signal_group(pgid, signal.SIGTERM):
            return False
    else:
        members = {} if _group_gone(pgid) else _members(pgid)
        if not members:
            return False
        # Oldest first: a shell hears SIGTERM before the child it waits for exits, so its
        # trap runs (killpg would deliver to all at once; it cannot spare the leader).
        for pid in sorted(members, key=members.__getitem__):
            if pid != spare:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not _members(pgid):
            return True
    _signal_group(pgid, signal.SIGKILL)
    return True


def _group_gone(pgid: int) -> bool:
    """No process is left in the group (how a stage usually ends): known from one signal 0,
    without reading every process's stat in /proc."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _members(pgid: int) -> dict[int, int]:
    """The live (not zombie) processes of the group, with their start times. (Raw reads: this
    walks every process on the host after every stage.)"""
    pids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                stat = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            pids[int(name)] = int(fields[19])
    return pids


def find_orphans(deployment_id: str) -> set[int]:
    """Process groups on this host whose processes belong to `deployment_id`'s stages."""
    marker = f"CAPSTAN_DEPLOYMENT_ID={deployment_id}".encode()
    groups: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                groups.add(os.getpgid(int(entry.name)))
    return groups


def kill_orphans(deployment_id: str, grace: float) -> int:
    """Stop every leftover process group of the deployment; return how many were found."""
    groups = find_orphans(deployment_id) - {os.getpgid(0)}
    for pgid in groups:
        kill_group(pgid, grace)
    return len(groups)
