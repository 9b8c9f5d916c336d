"""JSON shapes of the API's objects (the README's "HTTP API" section lists the routes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.domain.repos import redact
from app.models import Delivery, Deployment, Project

STAGE_FIELDS = ("name", "status", "attempt", "exit_code", "started_at", "finished_at")


def rfc3339(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


PROVIDERS = ("github", "gitlab", "gitea")


def project_json(project: Project, base_url: str) -> dict[str, Any]:
    """A project; `base_url` (where people reach Capstan) makes its webhook URLs absolute."""
    hooks = {provider: f"/hooks/{provider}/{project.name}" for provider in PROVIDERS}
    return {
        "id": str(project.id),
        "name": project.name,
        "repo_url": redact(project.repo_url),
        "branch": project.branch,
        "stages": project.stages,
        "concurrency": project.concurrency,
        "keep_releases": project.keep_releases,
        "keep_logs": project.keep_logs,
        "keep_log_days": project.keep_log_days,
        "on_rollback": project.on_rollback,
        "deploy_tags": project.deploy_tags,
        "members_can_approve": project.members_can_approve,
        "no_self_approval": project.no_self_approval,
        "paths": project.paths,
        "strategy": project.strategy,
        "batch_size": project.batch_size,
        "health_check": project.health_check,
        "current_deployment": str(project.current_deployment_id)
        if project.current_deployment_id
        else None,
        "webhook_url": hooks["github"],
        "webhook_urls": {provider: base_url + path for provider, path in hooks.items()},
        "created_at": rfc3339(project.created_at),
        "updated_at": rfc3339(project.updated_at),
    }


def deployment_json(dep: Deployment, project_name: str) -> dict[str, Any]:
    index = dep.stage_index
    total = len(dep.stages)
    current = dep.stages[index]["name"] if index < total else None
    return {
        "id": str(dep.id),
        "project": project_name,
        "seq": dep.seq,
        "kind": dep.kind,
        "ref": dep.ref,
        "commit": dep.commit,
        "version": dep.version,
        "status": dep.status,
        "current_stage": current,
        "stage_index": index,
        "total_stages": total,
        "stages": [{k: stage.get(k) for k in STAGE_FIELDS} for stage in dep.stages],
        "trigger": dep.trigger,
        "release": dep.release,
        "targets": dep.targets,
        "rollback_to": str(dep.rollback_to) if dep.rollback_to else None,
        "error": dep.error,
        "created_at": rfc3339(dep.created_at),
        "started_at": rfc3339(dep.started_at),
        "finished_at": rfc3339(dep.finished_at),
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    push = delivery.push or {}
    return {
        "id": str(delivery.id),
        "provider": delivery.provider,
        "delivery": delivery.delivery_id,
        "event": delivery.event,
        "outcome": delivery.outcome,
        "reason": delivery.reason,
        "status_code": delivery.status_code,
        "deployment": str(delivery.deployment_id) if delivery.deployment_id else None,
        "ref": push.get("ref"),
        "commit": push.get("commit"),
        "pusher": push.get("pusher"),
        "size": delivery.size,
        "received_at": rfc3339(delivery.received_at),
    }
