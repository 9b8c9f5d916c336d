"""Every change of a deployment row, each one a conditional UPDATE whose row count is checked.

- `claim` starts a PENDING deployment: it takes the project's unique `active_slot`, so the
  database refuses a second active deployment of the project.
- `save` writes only if the row still has the revision the caller read, and bumps it. The
  revision is the lease's fencing token: a worker that lost its lease cannot write.
- `acquire`/`renew` take and extend the lease of an IN_PROGRESS deployment.
- `append_log` stores a log batch only while the row is at the writer's revision and lease.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Length, Max, Sum
from tortoise.transactions import in_transaction

from app.domain.status import TERMINAL, Status, can_transition
from app.engine.releases import release_name
from app.logs.records import LogBatch
from app.models import Deployment, LogChunk, Project


class LeaseLost(Exception):
    """The row changed under us: another worker or a cancel took the deployment over."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp() -> str:
    """Now as RFC 3339 text, for timestamps kept inside JSON columns."""
    return now().isoformat().replace("+00:00", "Z")


async def save(dep: Deployment, **changes: Any) -> None:
    """Write `changes` if `dep` is still at the revision read; update `dep` in memory."""
    status = changes.get("status")
    if (
        status is not None
        and status != dep.status
        and not can_transition(Status(dep.status), status)
    ):
        raise ValueError(f"illegal transition {dep.status} -> {status}")
    values = {k: (v.value if isinstance(v, Status) else v) for k, v in changes.items()}
    count = await Deployment.filter(id=dep.id, revision=dep.revision).update(
        revision=dep.revision + 1, **values
    )
    if count != 1:
        raise LeaseLost(f"deployment {dep.id} changed since revision {dep.revision}")
    for key, value in values.items():
        setattr(dep, key, value)
    dep.revision += 1


async def claim(dep: Deployment, holder: str, lease_seconds: float) -> bool:
    """PENDING -> IN_PROGRESS, taking the project's slot and the lease. False if taken."""
    try:
        await save(
            dep,
            status=Status.IN_PROGRESS,
            release=dep.release or release_name(dep.seq, dep.commit),
            active_slot=dep.project_id,
            lease_holder=holder,
            lease_expires=now() + dt.timedelta(seconds=lease_seconds),
            started_at=now(),
        )
    except (IntegrityError, LeaseLost):
        return False
    return True


async def acquire(dep: Deployment, holder: str, lease_seconds: float) -> bool:
    """Take the lease of an IN_PROGRESS deployment whose lease is free or has expired."""
    expires = now() + dt.timedelta(seconds=lease_seconds)
    count = await Deployment.filter(
        Q(lease_holder__isnull=True) | Q(lease_expires__lt=now()),
        id=dep.id,
        revision=dep.revision,
        status=Status.IN_PROGRESS,
    ).update(lease_holder=holder, lease_expires=expires, revision=dep.revision + 1)
    if count != 1:
        return False
    dep.lease_holder, dep.lease_expires = holder, expires
    dep.revision += 1
    return True


async def renew(dep: Deployment, lease_seconds: float) -> None:
    """Extend our lease; LeaseLost when the row moved on without us."""
    expires = now() + dt.timedelta(seconds=lease_seconds)
    count = await Deployment.filter(
        id=dep.id, revision=dep.revision, lease_holder=dep.lease_holder
    ).update(lease_expires=expires)
    if count != 1:
        raise LeaseLost(f"lease of deployment {dep.id} lost")
    dep.lease_expires = expires


# One statement, so a batch costs one round trip (on SQLite, one hop to its thread) instead
# of BEGIN, a renewal, the INSERT and COMMIT; the heartbeat renews the lease. On PostgreSQL
# `FOR SHARE` locks the deployment row until the INSERT commits, so a takeover's UPDATE waits
# for it, or (having committed first) fails the revision check: the fence holds either way.
_APPEND_LOG = (
    "INSERT INTO log_chunks (deployment_id, kind, first_cursor, last_cursor, data) "
    "SELECT {0}, {1}, {2}, {3}, {4} WHERE EXISTS (SELECT 1 FROM deployments "
    "WHERE id = {0} AND revision = {5} AND lease_holder {same} {6}{lock}) RETURNING id"
)
_PG_TYPES = ("uuid", "text", "bigint", "bigint", "text", "int", "text")
_APPEND_SQL = {
    "sqlite": _APPEND_LOG.format(*(f"?{n}" for n in range(1, 8)), same="IS", lock=""),
    "postgres": _APPEND_LOG.format(
        *(f"${n}::{kind}" for n, kind in enumerate(_PG_TYPES, 1)),
        same="IS NOT DISTINCT FROM",
        lock=" FOR SHARE",
    ),
}


async def append_log(dep: Deployment, batch: LogBatch) -> None:
    """Store a log batch, fenced by the lease: a stale worker is refused (LeaseLost)."""
    client: BaseDBAsyncClient = connections.get("default")
    sql = _APPEND_SQL["sqlite" if client.capabilities.dialect == "sqlite" else "postgres"]
    values = [str(dep.id), batch.kind, batch.first, batch.last, batch.data, dep.revision,
              dep.lease_holder]  # fmt: skip
    if not await client.execute_query_dict(sql, values):
        raise LeaseLost(f"lease of deployment {dep.id} lost")


async def complete(dep: Deployment) -> None:
    """IN_PROGRESS -> COMPLETED and the project's current release, in one transaction."""
    async with in_transaction():
        await save(dep, status=Status.COMPLETED, finished_at=now())
        await Project.filter(id=dep.project_id).update(current_deployment_id=dep.id)


async def release_slot(dep: Deployment) -> bool:
    """Free the project's slot held by a finished deployment. True if it was held."""
    count = await Deployment.filter(
        id=dep.id, status__in=TERMINAL, active_slot__isnull=False
    ).update(active_slot=None, lease_holder=None, lease_expires=None)
    return count == 1


async def next_pending(project_id: str) -> Deployment | None:
    """The project's oldest PENDING deployment: the next to start (FIFO by seq)."""
    return (
        await Deployment.filter(project_id=project_id, status=Status.PENDING)
        .order_by("seq")
        .first()
    )


async def log_position(deployment_id: str) -> tuple[int, int]:
    """(last cursor, stored bytes) of a deployment's log, for a resumed writer."""
    row = (
        await LogChunk.filter(deployment_id=deployment_id)
        .annotate(last=Max("last_cursor"), size=Sum(Length("data")))  # type: ignore[arg-type]
        .first()
        .values("last", "size")
    )
    if not row:
        return 0, 0
    return int(row["last"] or 0), int(row["size"] or 0)
