"""AES-256-GCM encryption of values at rest, under a keyring that can be rotated.

A ciphertext reads `v1:<key id>:<base64(nonce || ciphertext+tag)>`. Every encryption uses a
fresh random 96-bit nonce and the primary key; the associated data binds the ciphertext to its
purpose (for example `secret:<project id>:<name>`) and key id, so a value copied to another
row fails to decrypt. Older keys only decrypt, until a rotation has re-encrypted every row.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Keys = tuple[bytes, list[bytes]]


class VaultError(Exception):
    """A ciphertext cannot be decrypted with the keys at hand."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"capstan-key-id\0" + key).hexdigest()[:12]


def token_key_id(token: str) -> str | None:
    """The key id a ciphertext was made with, or None if it is not one."""
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "v1" else None


class Vault:
    def __init__(
        self, primary: bytes, others: Iterable[bytes] = (), reload: Callable[[], Keys] | None = None
    ) -> None:
        """`reload`, when given, returns the current (primary, others) from where keys are
        kept, so a running process follows a rotation."""
        self._keys: dict[str, AESGCM] = {}
        self._reload = reload
        self._use(primary, others)

    @property
    def key_id(self) -> str:
        return self._primary

    def known(self, kid: str) -> bool:
        return kid in self._keys

    def encrypt(self, plaintext: str, purpose: str) -> str:
        if self._reload is not None:
            self._use(*self._reload())
        nonce = os.urandom(12)
        sealed = self._keys[self._primary].encrypt(
            nonce, plaintext.encode(), _aad(purpose, self._primary)
        )
        return f"v1:{self._primary}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, purpose: str) -> str:
        kid = token_key_id(token)
        try:
            raw = base64.b64decode(token.split(":", 2)[2], validate=True)
        except (ValueError, IndexError):
            raise VaultError("malformed ciphertext") from None
        if kid is None:
            raise VaultError("malformed ciphertext")
        if kid not in self._keys and self._reload is not None:
            self._use(*self._reload())
        if kid not in self._keys:
            raise VaultError(f"encrypted with key {kid}, which is not in the keyring")
        try:
            plain = self._keys[kid].decrypt(raw[:12], raw[12:], _aad(purpose, kid))
        except InvalidTag:
            raise VaultError("ciphertext does not belong here or was altered") from None
        return plain.decode()

    def _use(self, primary: bytes, others: Iterable[bytes]) -> None:
        for key in (primary, *others):
            if len(key) != 32:
                raise ValueError("master keys are 32 bytes (64 hex characters)")
            self._keys.setdefault(key_id(key), AESGCM(key))
        self._primary = key_id(primary)


def _aad(purpose: str, kid: str) -> bytes:
    return f"capstan\0{purpose}\0{kid}".encode()
