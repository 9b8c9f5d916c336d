"""SSH keys: a project's deploy key and its targets' keys, and the host keys they meet.

Capstan makes ed25519 key pairs itself. The private half is stored AES-256-GCM encrypted
(the vault's `encrypt`/`decrypt` with `deploy_key_purpose` or `target_key_purpose`, like a
secret, covered by key rotation) and exists in plaintext only in memory, or for the seconds
git or rsync runs, in a 0600 file of a private directory inside the data directory
(`key_files`; one a killed server left is removed at the next start). The public half is the
OpenSSH line a forge's "deploy keys" page or `authorized_keys` takes.

Host keys are pinned per project (`app.models.HostKey`): `check_host` asks the server for its
key, records one never seen as untrusted, and refuses the connection unless the key is
trusted. A host whose key changed is refused with both fingerprints named.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tortoise.exceptions import IntegrityError

from app.db.clients import settled
from app.domain import hosts
from app.models import HostKey

PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class KeyPair:
    private: str  # OpenSSH PEM ("-----BEGIN OPENSSH PRIVATE KEY-----")
    public: str  # "ssh-ed25519 AAAA... comment"


def generate(comment: str) -> KeyPair:
    """A new ed25519 key pair, `comment` at the end of its public line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private, f"{public.decode()} {comment}")


def deploy_key_purpose(project_id: object) -> str:
    return f"deploy-key:{project_id}"


def target_key_purpose(target_id: object) -> str:
    return f"target-key:{target_id}"


def fingerprint(public: str) -> str:
    """OpenSSH's `SHA256:...` fingerprint of a public key line (`algorithm base64 [comment]`)."""
    blob = base64.b64decode(public.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public(line: str) -> str:
    """`algorithm base64` of an OpenSSH public key line (a known_hosts entry's key part);
    ValueError if it is not one."""
    try:
        key = asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ValueError(f"not an OpenSSH public key: {exc}") from None
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


KEY_TYPE = re.compile(r"[a-z0-9@.-]{1,64}")
BASE64 = re.compile(r"[A-Za-z0-9+/]{16,16384}={0,2}")
PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Pin:
    """One host key for one host and port, as a known_hosts line gives it."""

    host: str
    port: int
    key: str  # "algorithm base64"


def parse_known_hosts(text: str) -> list[Pin]:
    """The entries of known_hosts lines (`host[,host...] algorithm base64 [comment]`, a
    host as `name`, `address` or `[host]:port`); blank lines and `#` comments are skipped.
    ValueError naming the line for what cannot be pinned: hashed names, wildcards,
    `@cert-authority` and `@revoked` markers, a malformed key."""
    pins: list[Pin] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            pins.extend(_entry(line))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    if not pins:
        raise ValueError("no known_hosts entries: expected `host algorithm base64-key`")
    return pins


def _entry(line: str) -> list[Pin]:
    fields = line.split()
    if fields[0].startswith("@"):
        raise ValueError(f"{fields[0][:32]} entries cannot be pinned: give the host's own key")
    if len(fields) < 3:
        raise ValueError("expected `host algorithm base64-key`")
    names, algorithm, blob = fields[:3]
    if names.startswith("|"):
        raise ValueError("hashed host names cannot be pinned: give the name (no ssh-keyscan -H)")
    if not KEY_TYPE.fullmatch(algorithm) or not BASE64.fullmatch(blob):
        raise ValueError("not an OpenSSH public key")
    key = parse_public(f"{algorithm} {blob}")
    return [Pin(*_where(name), key) for name in names.split(",")]


def _where(given: str) -> tuple[str, int]:
    """`name` (port 22) or `[name]:port` as (normalized host, port); ValueError otherwise."""
    host, port = given, "22"
    if given.startswith("["):
        host, sep, port = given[1:].partition("]:")
        if not sep or not PORT.fullmatch(port):
            raise ValueError(f"{given[:64]!r} is not [host]:port")
    try:
        host = hosts.normalize(host)
    except ValueError:
        raise ValueError(f"{host[:64]!r} is not a host name or address (no wildcards)") from None
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is out of range")
    return host, int(port)


class HostKeyError(Exception):
    """A host's key is not (or no longer) trusted by the project."""


class HostUnreachable(HostKeyError):
    """The host could not be asked for its key at all (down, unknown, not SSH)."""


async def scan(
    host: str, port: int, algorithms: list[str] | None = None, timeout: float = PROBE_TIMEOUT
) -> str:
    """The host key `host:port` offers (of `algorithms` if given), as `algorithm base64`."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                host, port, config=None, server_host_key_algs=algorithms or ()
            ),
            timeout,
        )
    except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
        # ValueError: a name DNS encoding refuses (UnicodeError), for a host not normalized
        reason = str(exc) or "timed out"
        raise HostUnreachable(f"cannot reach {host}:{port} over SSH: {reason}") from None
    if key is None:
        raise HostKeyError(f"{host}:{port} offered no host key")
    return parse_public(key.export_public_key("openssh").decode())


async def check_host(project_id: object, host: str, port: int) -> list[str]:
    """The trusted keys of `host:port` for the project, after checking that the host offers
    one of them now. A key never seen is recorded (untrusted) and refused until accepted."""
    pins = await HostKey.filter(project_id=project_id, host=host, port=port)
    trusted = [pin for pin in pins if pin.trusted]
    # A host has a key per algorithm: ask for the kinds the project trusts.
    offered = await scan(host, port, sorted({pin.key.split()[0] for pin in trusted}) or None)
    offered_print = fingerprint(offered)
    if any(pin.fingerprint == offered_print for pin in trusted):
        return [pin.key for pin in trusted]
    if not any(pin.fingerprint == offered_print for pin in pins):
        await record(project_id, host, port, offered)
    where = hosts.host_port(host, port)
    if trusted:
        raise HostKeyError(
            f"the host key of {where} changed: it offers {offered_print}, the project trusts "
            f"{', '.join(pin.fingerprint for pin in trusted)}; refusing to connect "
            "(accept the new key only if you know why it changed)"
        )
    raise HostKeyError(
        f"the host key of {where} is not trusted yet: {offered_print}; "
        "check it and accept it (the project's Access page, or capstan host-keys accept), "
        "or add a known_hosts entry"
    )


async def record(project_id: object, host: str, port: int, key: str) -> HostKey:
    """The project's row for `key` of `host:port`: the one there is, else a new one, untrusted.
    The write runs to its end even if the caller is cancelled meanwhile."""
    where: dict[str, Any] = {"project_id": project_id, "host": host, "port": port,
                             "fingerprint": fingerprint(key)}  # fmt: skip
    found = await HostKey.get_or_none(**where)
    if found is not None:
        return found
    try:
        return await settled(HostKey.create(**where, key=key))
    except IntegrityError:  # recorded by another connection just now
        return await HostKey.get(**where)


def known_hosts(host: str, port: int, keys: list[str]) -> str:
    """OpenSSH known_hosts lines pinning `keys` for `host:port`."""
    return "".join(f"{hosts.host_port(host, port)} {key}\n" for key in keys)


def scratch(data_dir: Path) -> Path:
    """Where `key_files` makes its directories: inside the data directory (0700), so a key
    left by a killed server is neither in /tmp nor outlives the next start."""
    return data_dir / "tmp" / "ssh"


@contextlib.contextmanager
def key_files(private: str, known_hosts: str, root: Path) -> Iterator[tuple[Path, Path]]:
    """The private key and a known_hosts file, 0600 in a private directory under `root`
    (see `scratch`) that is removed when the block ends. The directory's name starts with
    this process's id, for `remove_stale`."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)
    try:
        key, pins = Path(tmp, "key"), Path(tmp, "known_hosts")
        for path, text in ((key, private), (pins, known_hosts)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text if text.endswith("\n") else text + "\n")
        yield key, pins
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale(root: Path) -> list[str]:
    """Remove the `key_files` directories under `root` whose process is gone (a server
    killed while git or rsync ran); the names removed."""
    removed = []
    for entry in root.iterdir() if root.is_dir() else ():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ssh_command(key: Path | None, known_hosts: Path) -> str:
    """`GIT_SSH_COMMAND` (or rsync's `-e`): only this key (None: no key at all), only pinned
    host keys, no agent, no user or system configuration, never a prompt."""
    identity = f"-i {key}" if key is not None else "-o IdentityFile=none"
    return (
        f"ssh -F /dev/null {identity} -o IdentitiesOnly=yes -o IdentityAgent=none "
        f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15"
    )
