"""Project secrets at rest: AES-256-GCM, each bound to its project and name."""

from __future__ import annotations

from app.keyring.vault import Vault
from app.models import Project, Secret


def purpose(project_id: object, name: str) -> str:
    return f"secret:{project_id}:{name}"


async def put(vault: Vault, project: Project, name: str, value: str, by: str) -> None:
    sealed = vault.encrypt(value, purpose(project.id, name))
    updated = await Secret.filter(project_id=project.id, name=name).update(
        value=sealed, key_id=vault.key_id, updated_by=by
    )
    if not updated:
        await Secret.create(
            project_id=project.id, name=name, value=sealed, key_id=vault.key_id, updated_by=by
        )


async def delete(project: Project, name: str) -> bool:
    return bool(await Secret.filter(project_id=project.id, name=name).delete())


async def values(vault: Vault, project_id: object) -> dict[str, str]:
    """Every secret of the project, decrypted (VaultError if one cannot be)."""
    rows = await Secret.filter(project_id=project_id)
    return {row.name: vault.decrypt(row.value, purpose(project_id, row.name)) for row in rows}


async def value(vault: Vault, project_id: object, name: str) -> str | None:
    secret = await Secret.get_or_none(project_id=project_id, name=name)
    if secret is None:
        return None
    return vault.decrypt(secret.value, purpose(project_id, name))
