"""Every change of a deployment row, each one a conditional UPDATE whose row count is checked.

- `claim` starts a PENDING deployment: it takes the project's unique `active_slot`, so the
  database refuses a second active deployment of the project.
- `save` writes only if the row still has the revision the caller read, and bumps it. The
  revision is the lease's fencing token: a worker that lost its lease cannot write.
- `acquire`/`renew` take and extend the lease of an IN_PROGRESS deployment.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

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


async def append_log(dep: Deployment, batch: LogBatch, lease_seconds: float) -> None:
    """Store a log batch, fenced by the lease (which it renews): a stale worker is refused."""
    async with in_transaction():
        await renew(dep, lease_seconds)
        await LogChunk.create(
            deployment_id=dep.id,
            kind=batch.kind,
            first_cursor=batch.first,
            last_cursor=batch.last,
            data=batch.data,
        )


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
