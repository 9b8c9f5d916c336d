"""The audit trail: append-only, hash-chained, one chain whatever the number of writers.

Each event stores `hash = SHA-256(previous hash || canonical JSON of the event)`. Appending
locks the single `audit_head` row first (a write, so SQLite and PostgreSQL both serialize
writers there), so concurrent writers never fork the chain. `verify` names the first event
whose hash, or link to its predecessor, does not hold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.models import AuditEvent, AuditHead, Project

GENESIS = "0" * 64


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acted: a user (maybe through a token), a webhook delivery, or the system."""

    name: str
    kind: str = "user"  # user, token, webhook, system
    token_id: str | None = None
    client: str | None = None
    user_agent: str | None = None


def canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()


def _fields(row: AuditEvent) -> dict[str, Any]:
    fields = {
        "id": row.id,
        "at": row.at.astimezone(dt.UTC).isoformat(),
        "actor": row.actor,
        "actor_type": row.actor_type,
        "token_id": row.token_id,
        "action": row.action,
        "project": row.project,
        "target": row.target,
        "client": row.client,
        "user_agent": row.user_agent,
        "details": row.details,
    }
    if row.project_id is not None:  # events from before project ids keep their hashes
        fields["project_id"] = str(row.project_id)
    return fields


async def record(
    actor: Actor,
    action: str,
    *,
    project: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. It names `project` by name and by the id of the
    project of that name now (none once it is deleted)."""
    project_id = None
    if project is not None:
        ids = await Project.filter(name=project).limit(1).values_list("id", flat=True)
        project_id = ids[0] if ids else None
    async with in_transaction():
        if not await AuditHead.filter(id=1).update(count=F("count") + 1):
            await AuditHead.create(id=1, last_hash=GENESIS, count=1)
        head = await AuditHead.get(id=1)
        row = AuditEvent(
            id=head.count,
            at=dt.datetime.now(dt.UTC).replace(microsecond=0),
            actor=actor.name[:128],  # the columns' widths: PostgreSQL refuses longer text
            actor_type=actor.kind,
            token_id=actor.token_id,
            action=action,
            project=project,
            project_id=project_id,
            target=target[:255] if target else target,
            client=(actor.client or "")[:64] or None,
            user_agent=(actor.user_agent or "")[:255] or None,
            details=details or {},
            prev_hash=head.last_hash,
            hash="",
        )
        row.hash = chain_hash(row.prev_hash, _fields(row))
        await row.save(force_create=True)
        await AuditHead.filter(id=1).update(last_hash=row.hash)
    return row


async def verify() -> tuple[int, int | None, str]:
    """(events checked, id of the first broken event or None, what is wrong)."""
    prev = GENESIS
    checked = 0
    expected_id = 1
    async for row in _rows():
        if row.id != expected_id:
            return checked, row.id, f"event {expected_id} is missing before event {row.id}"
        if row.prev_hash != prev:
            return checked, row.id, "its link to the previous event does not match"
        if chain_hash(prev, _fields(row)) != row.hash:
            return checked, row.id, "its content does not match its hash"
        prev, checked, expected_id = row.hash, checked + 1, expected_id + 1
    head = await AuditHead.get_or_none(id=1)
    if head is not None and (head.count != checked or head.last_hash != prev):
        return checked, checked + 1, "events after it were removed"
    return checked, None, "the chain is unbroken"


async def _rows(batch: int = 1000) -> Any:
    last = 0
    while True:
        rows = await AuditEvent.filter(id__gt=last).order_by("id").limit(batch)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last = rows[-1].id


def event_json(row: AuditEvent) -> dict[str, Any]:
    return {"project_id": None, **_fields(row), "hash": row.hash}
