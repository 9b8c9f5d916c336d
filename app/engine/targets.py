"""SSH targets: connecting to a project's servers with their own key and pinned host keys.

Every connection names its key and the project's trusted host keys explicitly: no agent, no
`~/.ssh/config`, no system known_hosts. A host offering a key the project does not trust is
refused before any authentication (`ssh.check_host` raises `HostKeyError`).
"""

from __future__ import annotations

import asyncssh

from app.keyring import ssh
from app.keyring.vault import Vault
from app.models import Target

CONNECT_TIMEOUT = 15.0


def known_hosts(target: Target, keys: list[str]) -> str:
    """A known_hosts text pinning `keys` for the target's host and port."""
    return "".join(ssh.known_hosts_line(target.host, target.port, key) for key in keys)


async def connect(vault: Vault, target: Target) -> asyncssh.SSHClientConnection:
    """An SSH connection to `target` as its user, with its own key, trusting only the host
    keys the project pinned. Raises `ssh.HostKeyError` for an unknown or changed host key,
    `asyncssh.Error`/`OSError`/`TimeoutError` when the host cannot be reached or refuses the
    key."""
    trusted = await ssh.check_host(target.project_id, target.host, target.port)
    private = ssh.unseal(vault, target.key, ssh.target_key_purpose(target.id))
    return await asyncssh.connect(
        target.host,
        target.port,
        username=target.user,
        client_keys=[asyncssh.import_private_key(private)],
        known_hosts=asyncssh.import_known_hosts(known_hosts(target, trusted)),
        config=None,
        agent_path=None,
        agent_forwarding=False,
        x509_trusted_certs=None,
        connect_timeout=CONNECT_TIMEOUT,
        login_timeout=CONNECT_TIMEOUT,
        keepalive_interval=15,
    )
