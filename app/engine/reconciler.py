"""The safety net under the queue: the database says what must run, Redis may have forgotten.

Every few seconds (and at start) each process looks for deployments that need a worker and
enqueues them: the head of each idle project's queue, IN_PROGRESS deployments whose lease is
free or expired (their worker died) unless they wait for approval, and finished deployments
still holding their project's slot after their runner vanished. Enqueueing is idempotent
(jobs are keyed by id and revision) and running is guarded by the database, so every
deployment runs exactly once however often this fires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from tortoise.expressions import Q

from app.domain.notify import DeliveryStatus
from app.domain.status import TERMINAL, Status, awaits_approval
from app.engine import process
from app.engine.bundle import Engine
from app.engine.runner import settle
from app.engine.store import now
from app.logs import retention
from app.models import Deployment, NotifyDelivery

log = logging.getLogger("capstan.reconciler")

NOTIFY_LOST_AFTER = dt.timedelta(minutes=5)
PRUNE_EVERY = 12


async def reconcile(engine: Engine) -> int:
    """One pass; returns how many deployments were enqueued or settled."""
    lease_free = Q(lease_holder__isnull=True) | Q(lease_expires__lt=now())
    count = 0
    orphaned = await Deployment.filter(lease_free, active_slot__isnull=False, status__in=TERMINAL)
    for dep in orphaned:
        grace = engine.settings.kill_grace_seconds
        await asyncio.to_thread(process.kill_orphans, str(dep.id), grace)
        await settle(engine, dep)
        count += 1
    for dep in await Deployment.filter(lease_free, status=Status.IN_PROGRESS):
        if not waits_for_approval(dep):
            await engine.enqueue(dep)
            count += 1
    busy: set[object] = set(
        await Deployment.filter(active_slot__isnull=False).values_list("project_id", flat=True)
    )
    for dep in await Deployment.filter(status=Status.PENDING).order_by("seq"):
        if dep.project_id not in busy:
            busy.add(dep.project_id)
            await engine.enqueue(dep)
            count += 1
    # A notification still pending long after its retries would have ended lost its job (Redis
    # forgot it): ask again. Its job key makes this a no-op while the job still exists.
    stale = now() - NOTIFY_LOST_AFTER
    for delivery in await NotifyDelivery.filter(
        status=DeliveryStatus.PENDING, created_at__lt=stale
    ).limit(100):
        await engine.resend(delivery)
    return count


def waits_for_approval(dep: Deployment) -> bool:
    return dep.stage_index < len(dep.stages) and awaits_approval(dep.stages[dep.stage_index])


async def run_forever(engine: Engine) -> None:
    """Reconcile at start and then every `reconcile_seconds`, surviving any failure; every
    `PRUNE_EVERY` passes, delete the logs projects no longer keep."""
    passes = 0
    while True:
        try:
            await reconcile(engine)
            if passes % PRUNE_EVERY == 0:
                await retention.prune()
        except Exception as exc:
            log.warning("reconcile failed", extra={"error": str(exc)})
        passes += 1
        await asyncio.sleep(engine.settings.reconcile_seconds)
