"""Notification providers' and channels' fields: checked, split into plain and secret, and the
secret ones sealed with the vault (never returned by the API, covered by key rotation)."""

from __future__ import annotations

import json
import re
from typing import Any

from app.domain import text
from app.domain.notify import EMAIL_SECURITY, FIELDS, EventKind, ProviderKind
from app.errors import Invalid
from app.keyring.rotation import sealed_purpose
from app.keyring.vault import Vault
from app.models import NotifyChannel, NotifyProvider

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ADDRESS = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,255}$")
MAX_TEXT = 2048
MAX_RECIPIENTS = 50
MAX_TIMEOUT = 60.0


def check_name(value: object) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise Invalid("name must match ^[a-z0-9][a-z0-9-]{0,62}$", field="name")
    return value


def check_kind(value: object) -> ProviderKind:
    if value not in tuple(ProviderKind):
        raise Invalid(f"kind must be one of: {', '.join(ProviderKind)}", field="kind")
    return ProviderKind(str(value))


def check_events(value: object) -> list[str]:
    kinds = tuple(EventKind)
    if not isinstance(value, list) or not value or any(e not in kinds for e in value):
        raise Invalid(f"events must be a list of: {', '.join(kinds)}", field="events")
    return sorted(set(map(str, value)))


def check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("timeout must be a number of seconds", field="timeout")
    if not 0.1 <= value <= MAX_TIMEOUT:
        raise Invalid(f"timeout must be from 0.1 to {MAX_TIMEOUT:g} seconds", field="timeout")
    return float(value)


def _value(name: str, value: object) -> object:
    if name == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise Invalid("port must be from 1 to 65535", field=name)
        return value
    if name == "to":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECIPIENTS:
            raise Invalid(f"to must be a list of 1 to {MAX_RECIPIENTS} addresses", field=name)
        for address in value:
            if not isinstance(address, str) or not ADDRESS.fullmatch(address):
                raise Invalid(f"not an email address: {str(address)[:80]!r}", field=name)
        return value
    if name == "chat_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise Invalid(f"{name} must be text of 1 to {MAX_TEXT} characters", field=name)
    if "\x00" in value or "\r" in value or "\n" in value:
        raise Invalid(f"{name} may not hold control characters", field=name)
    if name == "security" and value not in EMAIL_SECURITY:
        raise Invalid(f"security must be one of: {', '.join(EMAIL_SECURITY)}", field=name)
    if name == "sender" and not ADDRESS.fullmatch(value):
        raise Invalid("sender must be an email address", field=name)
    if name == "api_url" and not value.startswith(("http://", "https://")):
        raise Invalid("api_url must be an http:// or https:// URL", field=name)
    return value


def split(
    data: dict[str, Any], plain: tuple[str, ...], secret: tuple[str, ...], required: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`data`'s known fields, checked, as (plain, secret); unknown ones are refused."""
    text.only(data, *plain, *secret)
    for name in required:
        if name in (*plain, *secret) and data.get(name) in (None, ""):
            raise Invalid(f"{name} is required", field=name)
    checked = {k: _value(k, v) for k, v in data.items() if v is not None}
    return ({k: v for k, v in checked.items() if k in plain},
            {k: v for k, v in checked.items() if k in secret})  # fmt: skip


def provider_fields(
    kind: ProviderKind, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = FIELDS[kind]
    return split(data, spec.provider, spec.provider_secret, spec.required)


def channel_fields(
    kind: ProviderKind, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = FIELDS[kind]
    target, secret = split(data, spec.channel, spec.channel_secret, spec.required)
    url = secret.get("url", "")
    if kind is not ProviderKind.APPRISE and url and not url.startswith(("http://", "https://")):
        raise Invalid("url must be an http:// or https:// URL", field="url")
    return target, secret


Sealable = NotifyProvider | NotifyChannel


def seal(vault: Vault, row: Sealable, secret: dict[str, Any]) -> None:
    """Store `secret` encrypted on `row` (None when empty)."""
    row.sealed = (
        vault.encrypt(json.dumps(secret), sealed_purpose(type(row), row.id)) if secret else None
    )


def unseal(vault: Vault, row: Sealable) -> dict[str, Any]:
    if not row.sealed:
        return {}
    opened: dict[str, Any] = json.loads(
        vault.decrypt(row.sealed, sealed_purpose(type(row), row.id))
    )
    return opened


def secret_names(row: Sealable, vault: Vault) -> list[str]:
    """Which secret fields are set: what the API shows instead of their values."""
    return sorted(unseal(vault, row))
