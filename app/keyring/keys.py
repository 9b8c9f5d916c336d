"""Where master keys live, and checking them against the data before Capstan starts.

The primary key is `CAPSTAN_MASTER_KEY`, else `DATA_DIR/master.key` (generated, mode 0600, on
the first start of an empty database). Older keys that still decrypt, during a rotation, come
from `CAPSTAN_MASTER_KEY_OLD` (comma-separated) and `DATA_DIR/master.key.old`.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from app.errors import ConfigError
from app.keyring.vault import Keys, Vault, token_key_id
from app.models import Deployment, Project, Secret
from app.settings import Settings

log = logging.getLogger("capstan.keys")


def parse_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{where} must hold 64 hex characters (a 32-byte key)")
    return key


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "master.key"


def read_keys(settings: Settings) -> Keys:
    """(primary, older keys) as configured right now."""
    path = key_file(settings)
    if settings.master_key:
        primary = parse_key(settings.master_key, "CAPSTAN_MASTER_KEY")
    elif path.exists():
        primary = parse_key(path.read_text(), str(path))
    else:
        raise ConfigError(f"no master key: set CAPSTAN_MASTER_KEY or restore {path}")
    others = [
        parse_key(text, "CAPSTAN_MASTER_KEY_OLD")
        for text in settings.master_key_old.split(",")
        if text.strip()
    ]
    old_file = path.with_name("master.key.old")
    if old_file.exists():
        others.append(parse_key(old_file.read_text(), str(old_file)))
    return primary, others


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


async def stored_key_ids() -> set[str]:
    """Key ids of every encrypted value in the database."""
    kids = {str(k) for k in await Secret.all().distinct().values_list("key_id", flat=True)}
    tokens = [str(t) for t in await Project.all().values_list("webhook_secret", flat=True)]
    runs = Deployment.filter(seen_secrets__isnull=False)
    tokens += [str(t) for t in await runs.values_list("seen_secrets", flat=True)]
    kids.update(kid for token in tokens if (kid := token_key_id(token)))
    return kids


async def open_vault(settings: Settings) -> Vault:
    """The vault for this process, after checking its keys open everything stored.

    An empty database without a key gets a new key file; a wrong or missing key stops here
    with a message saying what to do, rather than serving values it cannot read.
    """
    path = key_file(settings)
    stored = await stored_key_ids()
    if not settings.master_key and not path.exists():
        if stored:
            raise ConfigError(
                f"the database holds encrypted values but {path} is missing: restore it, "
                "or set CAPSTAN_MASTER_KEY to the key that encrypted them"
            )
        write_key_file(path, secrets.token_bytes(32))
        log.warning(
            "generated a new master key: back it up (copy this file somewhere safe, or set "
            "CAPSTAN_MASTER_KEY to its contents); without it stored secrets are lost",
            extra={"path": str(path.resolve())},
        )
    reload = None if settings.master_key else (lambda: read_keys(settings))
    vault = Vault(*read_keys(settings), reload=reload)
    unknown = sorted(kid for kid in stored if not vault.known(kid))
    if unknown:
        raise ConfigError(
            f"the master key ({vault.key_id}) cannot decrypt values stored under key(s) "
            f"{', '.join(unknown)}: set CAPSTAN_MASTER_KEY to the key that encrypted them "
            "(and CAPSTAN_MASTER_KEY_OLD to any older one during a rotation)"
        )
    return vault
