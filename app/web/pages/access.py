"""The project's Access page: the deploy key git uses over SSH, and the host keys it pins.

Like every page it only reads; its forms post to the API routes of `app.web.access`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.domain import repos
from app.domain.access import Permission
from app.models import HostKey
from app.web.access import deploy_key_json, host_key_json
from app.web.context import runtime
from app.web.lookup import find_project
from app.web.pages import form_failure, page, render
from app.web.schemas import project_json


async def project_access(request: Request) -> Response:
    """The deploy key's public line and fingerprint, the host keys, and the forms that
    generate or remove the key, accept, remove, add or scan host keys."""
    project = await find_project(request)
    flash, failure = await form_failure(request)
    pins = await HostKey.filter(project_id=project.id).order_by("host", "port", "id")
    try:
        repo_host = repos.ssh_host(project.repo_url) if project.repo_url else None
    except ValueError:
        repo_host = None
    context = {
        "project": project,
        "tab": "access",
        "shown": project_json(project, runtime(request).settings.base_url),
        "deploy_key": deploy_key_json(project) if project.deploy_key_public else None,
        "host_keys": [host_key_json(pin) for pin in pins],
        "repo_host": repo_host,
        "flash": flash,
        "failure": failure,
    }
    return await render(request, "project_access.html", context)


PAGES: list[BaseRoute] = [
    page("/projects/{project}/access", project_access, Permission.PROJECT_VIEW),
]
