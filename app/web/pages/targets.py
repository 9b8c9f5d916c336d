"""The project's Targets page: the servers it deploys to, each with its public key, host key,
current release, health and last connection check; how a deployment reaches them.

Like every page it only reads; its forms post to the API routes of `app.web.targets`, and
host keys are accepted on the Access page (`app.web.pages.access`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.domain.access import Permission
from app.domain.status import Strategy
from app.models import HostKey, Project, Target
from app.web.context import runtime
from app.web.lookup import find_project
from app.web.pages import form_failure, page, render
from app.web.schemas import project_json
from app.web.targets import last_checks, target_json

NEW_TARGET = {"port": "22"}


def host_key_state(target: Target, pins: list[HostKey]) -> dict[str, Any]:
    """What the project trusts of the target's host: `state` trusted, changed (a key other
    than the trusted one was offered since), untrusted (seen, not accepted) or unseen."""
    mine = [pin for pin in pins if (pin.host, pin.port) == (target.host, target.port)]
    trusted = [pin for pin in mine if pin.trusted]
    waiting = [pin for pin in mine if not pin.trusted]
    if trusted and waiting:
        return {"state": "changed", "trusted": trusted, "offered": waiting[-1]}
    if trusted:
        return {"state": "trusted", "trusted": trusted}
    if waiting:
        return {"state": "untrusted", "offered": waiting[-1]}
    return {"state": "unseen"}


def outdated(check: dict[str, Any] | None, host_key: dict[str, Any]) -> bool:
    """Whether a connection check ran before the host key it met was accepted."""
    if not check or not isinstance(check.get("at"), str):
        return False
    accepted = [pin.accepted_at for pin in host_key.get("trusted", []) if pin.accepted_at]
    try:
        at = datetime.fromisoformat(check["at"])
    except ValueError:
        return False
    return any(when > at for when in accepted)


def health_check_text(check: dict[str, Any] | None) -> str | None:
    """The project's health check in a sentence (None: there is none)."""
    if not check:
        return None
    retries = check.get("retries", 0)
    tries = f"{retries} retr{'y' if retries == 1 else 'ies'} {check.get('interval')} s apart"
    if "url" in check:
        what = f"GET {check['url']} answering {check.get('expect_status', 200)}"
    else:
        what = "the command below exiting 0 in the new release"
    return f"{what}; timeout {check.get('timeout')} s, {tries}"


def rollout(project: Project) -> str:
    if project.strategy == Strategy.ROLLING:
        size = project.batch_size
        return f"rolling: {size} host{'s' if size != 1 else ''} at a time"
    return "all at once: every host gets the release, then all switch together"


async def project_targets(request: Request) -> Response:
    """The targets, their keys, host keys, releases and health; the forms that add, check,
    rekey and remove them (`?form=add` shows the add form's error beside it)."""
    project = await find_project(request)
    flash, failure = await form_failure(request)
    rows = await Target.filter(project_id=project.id).order_by("name")
    pins = await HostKey.filter(project_id=project.id).order_by("seen_at", "id")
    checks = await last_checks(runtime(request).jobs.redis, rows)
    targets = []
    for t in rows:
        host_key, check = host_key_state(t, pins), checks.get(t.id)
        targets.append({**target_json(t), "host_key": host_key, "check": check,
                        "check_outdated": outdated(check, host_key)})  # fmt: skip
    submitted = failure["submitted"] if failure and failure["form"] == "add" else {}
    values = {**NEW_TARGET, **{k: v for k, v in submitted.items() if k != "labels"}}
    values["labels"] = "\n".join(str(v) for v in submitted.get("labels") or [])
    field = str(failure.get("field") or "") if failure else ""
    context = {
        "project": project,
        "tab": "targets",
        "shown": project_json(project, runtime(request).settings.base_url),
        "targets": targets,
        "target_stages": [s["name"] for s in project.stages if s.get("on") == "targets"],
        "rollout": rollout(project),
        "health_check": project.health_check,
        "health_text": health_check_text(project.health_check),
        "values": values,
        "error_field": field.partition("[")[0],
        "flash": flash,
        "failure": failure,
    }
    return await render(request, "project_targets.html", context)


PAGES: list[BaseRoute] = [
    page("/projects/{project}/targets", project_targets, Permission.PROJECT_VIEW),
]
