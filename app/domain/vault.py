"""AES-256-GCM encryption of values at rest.

A ciphertext reads `v1:<key id>:<base64(nonce || ciphertext+tag)>`. Every encryption uses a
fresh random 96-bit nonce, and the associated data binds the ciphertext to its purpose (for
example `webhook:<project id>`) and key id, so a value copied to another row fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class VaultError(Exception):
    """A ciphertext cannot be decrypted with the keys at hand."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"capstan-key-id\0" + key).hexdigest()[:12]


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes (64 hex characters)")
        self.key_id = key_id(key)
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad(purpose))
        return f"v1:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, purpose: str) -> str:
        try:
            version, kid, payload = token.split(":", 2)
            raw = base64.b64decode(payload, validate=True)
        except ValueError:
            raise VaultError("malformed ciphertext") from None
        if version != "v1" or kid != self.key_id:
            raise VaultError(f"encrypted with key {kid}, not the current key {self.key_id}")
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], self._aad(purpose))
        except InvalidTag:
            raise VaultError("ciphertext does not belong here or was altered") from None
        return plain.decode()

    def _aad(self, purpose: str) -> bytes:
        return f"capstan\0{purpose}\0{self.key_id}".encode()
