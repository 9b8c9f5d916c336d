"""`capstan secrets rotate-key` and `capstan secrets check`: the keyring's maintenance.

Rotation keeps the old key where running servers find it (`master.key.old`) until every value
is re-encrypted under the new one, in one transaction; values written meanwhile under the old
key are swept up after it. Then the old key is no longer needed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator

from tortoise.transactions import in_transaction

from app.errors import ConfigError
from app.keyring import ssh
from app.keyring.keys import key_file, parse_key, read_keys, write_key_file
from app.keyring.vault import Vault, VaultError, key_id, token_key_id
from app.models import Deployment, NotifyChannel, NotifyProvider, Project, Secret, Target
from app.settings import Settings

SWEEPS = 5


@dataclasses.dataclass
class Row:
    """One encrypted value: where it lives and what it was encrypted for."""

    model: (
        type[Project]
        | type[Secret]
        | type[Deployment]
        | type[NotifyProvider]
        | type[NotifyChannel]
        | type[Target]
    )
    pk: object
    column: str
    token: str
    purpose: str


async def encrypted_rows() -> AsyncIterator[Row]:
    for project in await Project.all().only("id", "webhook_secret"):
        yield Row(Project, project.id, "webhook_secret", project.webhook_secret,
                  f"webhook:{project.id}")  # fmt: skip
    for project in await Project.filter(deploy_key__isnull=False).only("id", "deploy_key"):
        assert project.deploy_key is not None
        yield Row(Project, project.id, "deploy_key", project.deploy_key,
                  ssh.deploy_key_purpose(project.id))  # fmt: skip
    for target in await Target.all().only("id", "key"):
        yield Row(Target, target.id, "key", target.key, ssh.target_key_purpose(target.id))
    for secret in await Secret.all().only("id", "project_id", "name", "value"):
        yield Row(Secret, secret.id, "value", secret.value,
                  f"secret:{secret.project_id}:{secret.name}")  # fmt: skip
    for dep in await Deployment.filter(seen_secrets__isnull=False).only(
        "seq", "id", "seen_secrets"
    ):
        yield Row(Deployment, dep.seq, "seen_secrets", dep.seen_secrets, f"seen:{dep.id}")
    for model in (NotifyProvider, NotifyChannel):
        for row in await model.filter(sealed__isnull=False).only("id", "sealed"):
            assert row.sealed is not None
            yield Row(model, row.id, "sealed", row.sealed, sealed_purpose(model, row.id))


def sealed_purpose(model: type[NotifyProvider] | type[NotifyChannel], pk: object) -> str:
    """What a notification provider's or channel's secret fields are encrypted for."""
    return f"{model.Meta.table}:{pk}"


async def check(settings: Settings) -> tuple[Counter[str], list[str]]:
    """Decrypt every stored value: counts per key id, and the rows that fail."""
    vault = Vault(*read_keys(settings))
    counts: Counter[str] = Counter()
    failures = []
    async for row in encrypted_rows():
        try:
            vault.decrypt(row.token, row.purpose)
            counts[token_key_id(row.token) or "?"] += 1
        except VaultError as exc:
            failures.append(f"{row.model.__name__.lower()} {row.pk} {row.column}: {exc}")
    return counts, failures


async def rotate(settings: Settings, new_key: bytes) -> int:
    """Re-encrypt every stored value under `new_key`; return how many were re-encrypted."""
    primary, others = read_keys(settings)
    if not settings.master_key:
        _install(settings, primary, new_key)
    vault = Vault(new_key, [primary, *others])
    total = 0
    for _ in range(SWEEPS):
        stale = [row async for row in encrypted_rows() if token_key_id(row.token) != vault.key_id]
        if not stale:
            break
        fresh = [(row, vault.encrypt(vault.decrypt(row.token, row.purpose), row.purpose))
                 for row in stale]  # fmt: skip
        async with in_transaction():
            for row, token in fresh:
                changes = {row.column: token}
                if row.model is Secret:
                    changes["key_id"] = vault.key_id
                query = row.model.filter(pk=row.pk, **{row.column: row.token})
                total += await query.update(**changes)
    else:
        raise ConfigError("values kept arriving under the old key; run the rotation again")
    if not settings.master_key:
        key_file(settings).with_name("master.key.old").unlink(missing_ok=True)
    return total


def _install(settings: Settings, primary: bytes, new_key: bytes) -> None:
    """Make `new_key` the key file's key, keeping the current one beside it for decryption."""
    path = key_file(settings)
    old = path.with_name("master.key.old")
    if primary == new_key:
        return
    if old.exists() and parse_key(old.read_text(), str(old)) != primary:
        raise ConfigError(
            f"{old} holds another key: an earlier rotation did not finish; run it again "
            f"with the key now in {path.name} ({key_id(primary)})"
        )
    write_key_file(old, primary)
    write_key_file(path, new_key)
