"""The master key that encrypts values at rest (webhook secrets, project secrets)."""

from __future__ import annotations

import logging
import os
import secrets

from app.errors import ConfigError
from app.settings import Settings

log = logging.getLogger("capstan.keys")


def load_master_key(settings: Settings) -> bytes:
    """`CAPSTAN_MASTER_KEY`, else `DATA_DIR/master.key`, generated (mode 0600) on first start."""
    key = settings.master_key_bytes
    if key is not None:
        return key
    path = settings.data_dir / "master.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        log.warning(
            "generated a new master key; back it up: without it stored secrets are lost",
            extra={"path": str(path.resolve())},
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{path} must hold 64 hex characters (a 32-byte key)")
    return key
