"""SSH targets: what Capstan does on one of a project's servers.

Every connection names its key and the project's trusted host keys explicitly: no agent, no
`~/.ssh/config`, no system known_hosts. A host offering a key the project does not trust is
refused before any authentication (`ssh.check_host` raises `HostKeyError`).

On a target, releases live in `{path}/releases/{name}` and `{path}/current` is a relative
symlink to one of them, switched by renaming a fresh link over it. A release is shipped with
rsync over the same pinned SSH, hard-linking what did not change since the host's current
release. A script runs in its own process group whose id the launcher reports first on
stderr; a cancel or a timeout signals that group over a second channel (TERM, a grace period,
KILL) and then kills whatever still carries the run's marker in its environment (a process
that left the group). The environment, secrets included, goes over stdin into a 0600 file the
launcher reads and removes before the script starts: never into a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from app.db.clients import settled
from app.domain import hosts
from app.domain.masker import Masker
from app.engine import process
from app.engine.process import OnOutput, StageTimeout
from app.keyring import ssh
from app.keyring.vault import Vault
from app.models import HostKey, Target

CONNECT_TIMEOUT = 15.0
COMMAND_TIMEOUT = 60.0
SHIP_TIMEOUT = 3600.0
PGID_WAIT = 5.0  # on a stop: how long to wait for a launcher still starting to report its group
READ_SIZE = 64 * 1024
MAX_LINE = 64 * 1024
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RUN_MARKER = "CAPSTAN_RUN_ID"

# $1: the directory, $2: the script; the environment arrives on stdin (NAME='value' lines).
LAUNCHER = r"""
__capstan_env=$(mktemp) || exit 125
cat >"$__capstan_env" || exit 125
set -a
. "$__capstan_env"
set +a
rm -f -- "$__capstan_env"
cd -- "$1" || exit 125
set -m
bash -eo pipefail -c "$2" </dev/null 2>&1 &
__capstan_pgid=$!
echo "capstan-pgid $__capstan_pgid" >&2
exec 2>/dev/null
wait "$__capstan_pgid"
__capstan_code=$?
kill -KILL -- "-$__capstan_pgid" 2>/dev/null
exit "$__capstan_code"
"""
# $1: a process group, $2: tenths of a second of grace, $3: the marker in leftovers' environ.
STOP = r"""
if [ -n "$1" ]; then
  kill -TERM -- "-$1" 2>/dev/null
  i=0
  while [ "$i" -lt "$2" ] && kill -0 -- "-$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  kill -KILL -- "-$1" 2>/dev/null
fi
for f in $(grep -lzxF -- "$3" /proc/[0-9]*/environ 2>/dev/null); do
  p=${f#/proc/}
  kill -KILL "${p%/environ}" 2>/dev/null
done
exit 0
"""
# $1: the target's path, $2: a release name, $3: a random suffix.
SWITCH = r"""
cd -- "$1" && ln -sfn -- "releases/$2" ".current.$3" && mv -fT -- ".current.$3" current
"""
UNSWITCH = 'rm -f -- "$1/current"'
READ_CURRENT = 'mkdir -p -- "$1/releases" && { readlink -- "$1/current" || true; }'
LIST_RELEASES = 'cd -- "$1/releases" 2>/dev/null && ls -1A || true'
# $1: the target's path, $2: how many to keep, $3...: releases never removed. Prints each one
# removed. Newest first by the sequence number that starts a release's name, as on the host.
PRUNE = r"""
cd -- "$1/releases" 2>/dev/null || exit 0
keep=$2
current=$(readlink -- ../current || true)
shift 2
ls -1A | grep -v '^[.]' | sort -t- -k1,1nr | tail -n "+$((keep + 1))" | while IFS= read -r name; do
  [ "$name" = "${current##*/}" ] && continue
  for protected in "$@"; do [ "$name" = "$protected" ] && continue 2; done
  rm -rf -- "$name" && echo "$name"
done
"""


class TargetError(Exception):
    """A target could not be reached, or refused what was asked of it."""


class ConnectionLost(TargetError):
    """The connection failed while a script ran: what the script started may still run on
    the host, and carries `marker` in its environment (`stop_marked` over a new connection)."""

    def __init__(self, message: str, marker: str) -> None:
        super().__init__(message)
        self.marker = marker


async def connect(vault: Vault, target: Target) -> asyncssh.SSHClientConnection:
    """An SSH connection to `target` as its user, with its own key, trusting only the host
    keys the project pinned. Raises `ssh.HostKeyError` for an unknown or changed host key,
    `asyncssh.Error`/`OSError`/`TimeoutError` when the host cannot be reached or refuses the
    key."""
    return (await _pinned(vault, target))[0]


async def _pinned(vault: Vault, target: Target) -> tuple[asyncssh.SSHClientConnection, str, str]:
    """The connection, the private key and the known_hosts text it trusted. The handshake
    itself checks the host key against the trusted pins; only a host that offers none of them
    costs a second look (`check_host`: its key recorded, the clear refusal)."""
    private = vault.decrypt(target.key, ssh.target_key_purpose(target.id))
    pins = HostKey.filter(project_id=target.project_id, host=target.host, port=target.port)
    trusted = [pin.key for pin in await pins.filter(trusted=True)]
    if trusted:
        try:
            text = ssh.known_hosts(target.host, target.port, trusted)
            return await _connect(target, private, text), private, text
        except asyncssh.HostKeyNotVerifiable:
            pass
    trusted = await ssh.check_host(target.project_id, target.host, target.port)
    text = ssh.known_hosts(target.host, target.port, trusted)
    return await _connect(target, private, text), private, text


async def _connect(target: Target, private: str, pins: str) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        target.host,
        target.port,
        username=target.user,
        client_keys=[asyncssh.import_private_key(private)],
        known_hosts=asyncssh.import_known_hosts(pins),
        config=None,
        agent_path=None,
        agent_forwarding=False,
        x509_trusted_certs=None,
        connect_timeout=CONNECT_TIMEOUT,
        login_timeout=CONNECT_TIMEOUT,
        keepalive_interval=15,
    )


@dataclass
class Host:
    """A connected target, and what rsync needs to reach it the same way."""

    target: Target
    conn: asyncssh.SSHClientConnection
    private: str
    pins: str

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def path(self) -> str:
        return self.target.path

    def release_dir(self, release: str) -> str:
        return posixpath.join(self.target.path, "releases", release)

    def current_dir(self) -> str:
        return posixpath.join(self.target.path, "current")

    def close(self) -> None:
        self.conn.close()


async def open_host(vault: Vault, target: Target) -> Host:
    """Connect to `target` (see `connect`); errors become `ssh.HostKeyError` or
    `TargetError`, with the target's name in the message."""
    try:
        conn, private, pins = await _pinned(vault, target)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        raise TargetError(f"cannot connect to {target.name}: {_reason(exc)}") from None
    return Host(target, conn, private, pins)


async def sh(host: Host, script: str, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a bash script of Capstan's own on the host (`args` as $1...); its stdout."""
    command = shlex.join(["bash", "-c", script, "capstan", *args])
    try:
        # Names on a host need not be UTF-8: never a UnicodeDecodeError.
        run = host.conn.run(command, stdin=asyncssh.DEVNULL, encoding="utf-8", errors="replace")
        result = await asyncio.wait_for(run, timeout)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        raise TargetError(f"{host.name}: {_reason(exc)}") from None
    if result.exit_status != 0:
        said = str(result.stderr or "").strip().splitlines()
        raise TargetError(f"{host.name}: {said[-1] if said else f'exit {result.returncode}'}")
    return str(result.stdout or "")


async def prepare(host: Host) -> str | None:
    """Make `{path}/releases` on the host; the name of the release `current` points at there,
    if any."""
    link = (await sh(host, READ_CURRENT, host.path)).strip()
    return posixpath.basename(link.rstrip("/")) or None


async def switch(host: Host, release: str | None) -> None:
    """Point `current` at `release` atomically (None: remove `current`)."""
    if release is None:
        await sh(host, UNSWITCH, host.path)
    else:
        await sh(host, SWITCH, host.path, release, secrets.token_hex(4))


async def releases(host: Host) -> list[str]:
    """The release names on the host, newest (highest sequence number) first."""
    names = [n for n in (await sh(host, LIST_RELEASES, host.path)).splitlines() if n]
    return sorted((n for n in names if not n.startswith(".")), key=_seq_of, reverse=True)


async def prune(host: Host, keep: int, protect: set[str]) -> list[str]:
    """Remove all but the `keep` newest releases on the host, never the current one nor one in
    `protect`; the names removed."""
    removed = await sh(host, PRUNE, host.path, str(keep), *sorted(protect), timeout=SHIP_TIMEOUT)
    return removed.split()


def _seq_of(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


async def ship(
    host: Host,
    source: Path,
    release: str,
    link_dest: str | None,
    *,
    path_env: str,
    scratch: Path,
    grace: float,
    on_output: OnOutput,
    masker: Masker,
) -> None:
    """Copy the release directory `source` to `{path}/releases/{release}/` on the host (whose
    `releases` directory `prepare` made) with rsync over the pinned SSH. Files equal (by
    checksum) to those of release `link_dest` there are hard links to them, not copies; the
    rest travels. Shipping again is harmless. The key rsync's ssh uses is in a file under
    `scratch` (`ssh.key_files`) while it runs."""
    target = host.target
    dest = f"{target.user}@{hosts.in_url(target.host)}:{host.release_dir(release)}/"
    lines = Lines(host.name, on_output, masker)
    with ssh.key_files(host.private, host.pins, scratch) as (key, pins):
        rsh = f"{ssh.ssh_command(key, pins)} -p {target.port}"
        argv = ["rsync", "-rlpc", "--delete", "-s", "-e", rsh]
        if link_dest and link_dest != release:
            argv.append(f"--link-dest={host.release_dir(link_dest)}")
        argv += ["--", f"{source}/", dest]
        env = {"PATH": path_env, "HOME": str(key.parent), "LC_ALL": "C"}
        try:
            code = await process.run(
                argv, cwd=source, env=env, timeout=SHIP_TIMEOUT, grace=grace, on_output=lines.feed
            )
        except StageTimeout as exc:
            raise TargetError(f"shipping to {host.name} {exc}") from None
        except FileNotFoundError:
            raise TargetError("rsync is not installed on the Capstan host") from None
        finally:
            await lines.close()
    if code != 0:
        raise TargetError(f"shipping to {host.name} failed: rsync exited with code {code}")


async def run_script(
    host: Host,
    script: str,
    *,
    cwd: str,
    env: Mapping[str, str],
    timeout: float,
    grace: float,
    on_output: OnOutput,
    masker: Masker,
) -> int:
    """Run a bash script (`bash -eo pipefail`) in `cwd` on the host, its output labelled with
    the host's name (`Lines`); its exit code. Raises StageTimeout after `timeout` seconds and
    re-raises CancelledError, the remote process group stopped first either way (over a
    second channel of the same connection). When the connection fails, the script may go on
    running on the host, nothing there to stop it: `ConnectionLost` carries the run's marker
    for `stop_marked` over a new connection. TargetError when the script cannot start."""
    marker = f"{RUN_MARKER}={secrets.token_hex(8)}"
    stdin = "".join(
        f"{name}={shlex.quote(value)}\n"
        for name, value in {**env, RUN_MARKER: marker.split("=", 1)[1]}.items()
        if ENV_NAME.fullmatch(name)
    )
    command = shlex.join(["bash", "-c", LAUNCHER, "capstan", cwd, script])
    try:
        proc = await host.conn.create_process(command, encoding=None)
    except (asyncssh.Error, OSError) as exc:
        raise TargetError(f"{host.name}: {_reason(exc)}") from None
    remote = _Remote(host, proc, Lines(host.name, on_output, masker))
    try:
        proc.stdin.write(stdin.encode())
        proc.stdin.write_eof()
        async with asyncio.timeout(timeout):
            await remote.finish()
    except TimeoutError:
        await remote.stop(grace, marker)
        raise StageTimeout(f"timed out after {timeout:g} s") from None
    except (asyncssh.Error, OSError) as exc:
        await remote.stop(grace, marker)
        raise ConnectionLost(f"{host.name}: {_reason(exc)}", marker) from None
    except BaseException:
        await remote.stop(grace, marker)
        raise
    finally:
        await remote.lines.close()
    code = proc.returncode
    if code is None:
        message = f"{host.name}: the connection closed before the script ended"
        raise ConnectionLost(message, marker)
    return code if code >= 0 else 128 - code


async def stop_marked(host: Host, marker: str, grace: float) -> None:
    """Kill the processes on the host whose environment holds `marker` (`NAME=value`): what a
    lost worker's scripts, or a script whose connection failed, left running."""
    with contextlib.suppress(TargetError):
        await sh(host, STOP, "", "0", marker, timeout=grace + 30)


class _Remote:
    """One running launcher: its output pumps, and its process group once reported."""

    def __init__(self, host: Host, proc: asyncssh.SSHClientProcess[bytes], lines: Lines):
        self.host, self.proc, self.lines = host, proc, lines
        self.pgid: str | None = None
        self.reported = asyncio.Event()

    async def finish(self) -> None:
        await asyncio.gather(self._out(), self._err())
        await self.proc.wait_closed()

    async def _out(self) -> None:
        while data := await self.proc.stdout.read(READ_SIZE):
            await self.lines.feed(data)

    async def _err(self) -> None:
        first = await self.proc.stderr.readline()
        if first.startswith(b"capstan-pgid "):
            self.pgid = first.split()[1].decode()
        elif first:
            await self.lines.feed(first)
        self.reported.set()
        while data := await self.proc.stderr.read(READ_SIZE):
            await self.lines.feed(data)

    async def stop(self, grace: float, marker: str) -> None:
        """Stop the process group over a second channel, whatever cancels the caller."""
        with contextlib.suppress(Exception):
            await settled(self._stop(grace, marker))

    async def _stop(self, grace: float, marker: str) -> None:
        try:
            if not self.reported.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.reported.wait(), PGID_WAIT)
            tenths = str(max(1, round(grace * 10)))
            await sh(self.host, STOP, self.pgid or "", tenths, marker, timeout=grace + 30)
        finally:
            self.proc.close()


class Lines:
    """One host's output, cut into whole lines that each start with `[name] `: the lines of
    hosts running at once interleave, never their bytes. A line longer than MAX_LINE is cut
    into labelled pieces, each cut where no secret can straddle it (`Masker.settle`: the
    piece is masked up to there, the rest goes on into the next), as the sink masks a local
    stage's output before it cuts its long lines."""

    def __init__(self, name: str, on_output: OnOutput, masker: Masker) -> None:
        self.label = f"[{name}] ".encode()
        self.on_output = on_output
        self.masker = masker
        self.held = b""

    async def feed(self, data: bytes) -> None:
        self.held += data
        *lines, self.held = self.held.split(b"\n")
        if len(self.held) > MAX_LINE:
            # surrogateescape: bytes that are not UTF-8 come back as they were
            piece, rest = self.masker.settle(self.held.decode("utf-8", "surrogateescape"))
            lines.append(piece.encode("utf-8", "surrogateescape"))
            self.held = rest.encode("utf-8", "surrogateescape")
        if lines:
            await self.on_output(b"".join(self.label + line + b"\n" for line in lines))

    async def close(self) -> None:
        if self.held:
            held, self.held = self.held, b""
            await self.on_output(self.label + held + b"\n")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "the target refused its key (is its public key in authorized_keys?)"
    return str(exc) or type(exc).__name__
