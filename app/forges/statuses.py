"""Commit statuses: tell GitHub, GitLab or Gitea how a deployment of a commit went.

A status is posted when a deployment is queued and when it ends, if the project has a token
secret for the forge its pushes come from (`GITHUB_TOKEN`, `GITLAB_TOKEN`, `GITEA_TOKEN`). It
runs as a queue job retried with backoff; a forge that is down never touches a deployment.

Each job reports the state the deployment had when it was enqueued, never a later one, and the
queued state always goes first: the jobs of one deployment take turns under a Redis lock, and
one reporting its end posts the queued state first if no job has yet (the queued job, late,
then finds it posted and does nothing). So a forge sees `pending`, then the end, whichever job
runs first.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
from redis.asyncio import Redis

from app.keyring import secretstore
from app.keyring.vault import Vault
from app.models import Deployment, Project
from app.settings import Settings

log = logging.getLogger("capstan.reporting")

TOKENS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
GITHUB_STATES = {
    "PENDING": "pending",
    "IN_PROGRESS": "pending",
    "COMPLETED": "success",
    "FAILED": "failure",
    "CANCELLED": "error",
    "ROLLED_BACK": "error",
}
GITLAB_STATES = {
    "PENDING": "pending",
    "IN_PROGRESS": "running",
    "COMPLETED": "success",
    "FAILED": "failed",
    "CANCELLED": "canceled",
    "ROLLED_BACK": "canceled",
}
TIMEOUT = httpx.Timeout(10.0)
QUEUED = "PENDING"
LOCK_SECONDS = 25  # two posts of at most 10 s each; a dead worker's lock expires
POSTED_TTL = 7 * 24 * 3600


async def post_status(
    settings: Settings, vault: Vault, redis: Redis, deployment_id: str, status: str | None = None
) -> list[str] | None:
    """Post `status` (the deployment's state when the job was enqueued; default: its state
    now), after the queued state if that was not posted yet. Return the states posted, or
    None when there is nothing to do. Raises httpx.HTTPError when the forge fails (the queue
    retries; what was posted stays posted)."""
    dep = await Deployment.get_or_none(id=deployment_id)
    if dep is None or not dep.report or not dep.commit:
        return None
    provider = dep.report.get("provider", "")
    if provider not in TOKENS:
        return None
    token = await secretstore.value(vault, dep.project_id, TOKENS[provider])
    if not token:
        return None
    project = await Project.get(id=dep.project_id)
    status = status or dep.status
    lock = redis.lock(f"capstan:report-lock:{dep.id}", timeout=LOCK_SECONDS,
                      blocking_timeout=LOCK_SECONDS)  # fmt: skip
    async with lock:
        posted_key = f"capstan:reported:{dep.id}"
        posted = {
            p.decode() if isinstance(p, bytes) else p for p in await redis.smembers(posted_key)
        }
        due = [s for s in dict.fromkeys([QUEUED, status]) if s not in posted]
        for state in due:
            request = _request(settings, dep, project.name, token, state)
            if request is None:
                log.warning("no API address for commit statuses", extra={"provider": provider})
                return None
            await _send(request, str(dep.id))
            await redis.sadd(posted_key, state)
            await redis.expire(posted_key, POSTED_TTL)
    return due


async def _send(request: httpx.Request, deployment: str) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.send(request)
    if response.is_error:
        extra = {"deployment": deployment, "status": response.status_code}
        log.warning("commit status refused", extra=extra)
        response.raise_for_status()


def _request(
    settings: Settings, dep: Deployment, project: str, token: str, status: str
) -> httpx.Request | None:
    report = dep.report or {}
    provider, repository = report.get("provider"), report.get("repository", "")
    description = f"Capstan deployment #{dep.seq}: {status.lower().replace('_', ' ')}"
    body = {
        "target_url": f"{settings.base_url}/deployments/{dep.id}",
        "description": description[:140],
    }
    if provider == "gitlab":
        api = settings.gitlab_api_url or report.get("api") or "https://gitlab.com/api/v4"
        url = f"{api}/projects/{quote(repository, safe='')}/statuses/{dep.commit}"
        body.update(state=GITLAB_STATES[status], name=f"capstan/{project}")
        return httpx.Request("POST", url, json=body, headers={"PRIVATE-TOKEN": token})
    api = settings.github_api_url if provider == "github" else settings.gitea_api_url
    api = api or report.get("api") or ""
    if not api:
        return None
    url = f"{api.rstrip('/')}/repos/{repository}/statuses/{dep.commit}"
    body.update(state=GITHUB_STATES[status], context=f"capstan/{project}")
    scheme = "Bearer" if provider == "github" else "token"
    headers = {"Authorization": f"{scheme} {token}", "Accept": "application/json"}
    return httpx.Request("POST", url, json=body, headers=headers)
