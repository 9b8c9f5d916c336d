"""Log retention: a project keeps the logs of its last `keep_logs` deployments and/or of those
that ended in the last `keep_log_days` days; older finished deployments' logs are deleted.

The deployment rows stay (history, audit, rollback targets); only their log chunks go, a few
hundred rows per statement with the event loop free between statements, so pruning a large
history never stalls requests or the runner.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from tortoise.expressions import Q

from app.domain.status import TERMINAL
from app.models import Deployment, LogChunk, Project

log = logging.getLogger("capstan.retention")

BATCH = 500  # chunks per DELETE
DEPLOYMENTS = 100  # deployments' logs per project per pass


async def prune(now: dt.datetime | None = None) -> int:
    """One pass over every project with a retention; returns the chunks deleted."""
    now = now or dt.datetime.now(dt.UTC)
    deleted = 0
    query = Project.filter(Q(keep_logs__isnull=False) | Q(keep_log_days__isnull=False))
    for project in await query:
        deleted += await prune_project(project, now)
    return deleted


async def prune_project(project: Project, now: dt.datetime) -> int:
    """Delete the logs `project` no longer keeps: at most `DEPLOYMENTS` deployments' a pass."""
    finished = Deployment.filter(project_id=project.id, status__in=list(TERMINAL))
    rules = []
    if project.keep_logs is not None:
        newest = finished.order_by("-seq").offset(project.keep_logs - 1).limit(1)
        boundary = await newest.values_list("seq", flat=True)
        if boundary:
            rules.append(Q(deployment__seq__lt=boundary[0]))
    if project.keep_log_days is not None:
        cutoff = now - dt.timedelta(days=project.keep_log_days)
        rules.append(Q(deployment__finished_at__lt=cutoff))
    if not rules:
        return 0
    with_logs = LogChunk.filter(
        Q(*rules, join_type="OR"),
        deployment__project_id=project.id,
        deployment__status__in=list(TERMINAL),
    )
    old = await with_logs.distinct().limit(DEPLOYMENTS).values_list("deployment_id", flat=True)
    deleted = 0
    for dep_id in old:
        while True:
            chunks = LogChunk.filter(deployment_id=dep_id).limit(BATCH)
            ids = await chunks.values_list("id", flat=True)
            if not ids:
                break
            deleted += await LogChunk.filter(id__in=list(ids)).delete()
            await asyncio.sleep(0)
    if deleted:
        log.info("pruned logs", extra={"project": project.name, "chunks": deleted})
    return deleted
