"""The whole HTTP surface, top to bottom, with the permission each route needs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.domain.access import Permission as P
from app.web import (
    access,
    deployments,
    logs,
    notifications,
    openapi,
    ops,
    people,
    projects,
    secrets,
    subscriptions,
    targets,
    webhooks,
)
from app.web.guard import Endpoint, guarded
from app.web.pages import FRONTEND, admin, home
from app.web.pages import access as access_pages
from app.web.pages import deployments as deployment_pages
from app.web.pages import notifications as notification_pages
from app.web.pages import projects as project_pages
from app.web.pages import targets as target_pages

PERMISSIONS: dict[tuple[str, str], P] = {}


def route(method: str, path: str, endpoint: Endpoint, permission: P) -> Route:
    PERMISSIONS[(method, path)] = permission
    return Route(path, guarded(endpoint, permission), methods=[method], name=endpoint.__name__)


async def openapi_document(request: Request) -> Response:
    """This OpenAPI document."""
    return JSONResponse(openapi.document(ROUTES, {k: v.value for k, v in PERMISSIONS.items()}))


ROUTES: list[BaseRoute] = [
    route("POST", "/login", people.login, P.PUBLIC),
    route("POST", "/logout", people.logout, P.SIGNED_IN),
    route("GET", "/api/v1/me", people.me, P.SIGNED_IN),
    route("POST", "/api/v1/projects", projects.create_project, P.PROJECT_CREATE),
    route("GET", "/api/v1/projects", projects.list_projects, P.SIGNED_IN),
    route("GET", "/api/v1/projects/{project}", projects.get_project, P.PROJECT_VIEW),
    route("PATCH", "/api/v1/projects/{project}", projects.update_project, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}", projects.delete_project, P.PROJECT_EDIT),
    route("POST", "/api/v1/projects/{project}/webhook-secret", projects.rotate_webhook_secret, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/deploy-key", access.get_deploy_key, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/deploy-key", access.generate_deploy_key, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/deploy-key", access.delete_deploy_key, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/host-keys", access.list_host_keys, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/host-keys", access.add_host_keys, P.PROJECT_EDIT),
    route("POST", "/api/v1/projects/{project}/host-keys/{host_key}/accept", access.accept_host_key, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/host-keys/{host_key}", access.delete_host_key, P.PROJECT_EDIT),
    route("POST", "/api/v1/projects/{project}/deployments", deployments.trigger_deployment, P.PROJECT_OPERATE),
    route("GET", "/api/v1/projects/{project}/deployments", deployments.list_deployments, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/rollback", deployments.rollback_project, P.PROJECT_OPERATE),
    route("GET", "/api/v1/projects/{project}/deliveries", webhooks.list_deliveries, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/deliveries/{delivery}/replay", webhooks.replay_delivery, P.PROJECT_OPERATE),
    route("GET", "/api/v1/projects/{project}/secrets", secrets.list_secrets, P.PROJECT_VIEW),
    route("PUT", "/api/v1/projects/{project}/secrets/{name}", secrets.put_secret, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/secrets/{name}", secrets.delete_secret, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/targets", targets.list_targets, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/targets", targets.create_target, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/targets/{target}", targets.get_target, P.PROJECT_VIEW),
    route("PATCH", "/api/v1/projects/{project}/targets/{target}", targets.update_target, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/targets/{target}", targets.delete_target, P.PROJECT_EDIT),
    route("POST", "/api/v1/projects/{project}/targets/{target}/key", targets.rekey_target, P.PROJECT_EDIT),
    route("POST", "/api/v1/projects/{project}/targets/{target}/check", targets.check_target, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/members", people.list_members, P.PROJECT_VIEW),
    route("PUT", "/api/v1/projects/{project}/members/{username}", people.put_member, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/members/{username}", people.delete_member, P.PROJECT_EDIT),
    route("GET", "/api/v1/projects/{project}/subscriptions", subscriptions.list_project_subscriptions, P.PROJECT_VIEW),
    route("POST", "/api/v1/projects/{project}/subscriptions", subscriptions.create_project_subscription, P.PROJECT_EDIT),
    route("DELETE", "/api/v1/projects/{project}/subscriptions/{subscription}", subscriptions.delete_project_subscription, P.PROJECT_EDIT),
    route("GET", "/api/v1/deployments/{deployment}", deployments.get_deployment, P.PROJECT_VIEW),
    route("POST", "/api/v1/deployments/{deployment}/approve", deployments.approve_deployment, P.PROJECT_APPROVE),
    route("POST", "/api/v1/deployments/{deployment}/cancel", deployments.cancel_deployment, P.PROJECT_OPERATE),
    route("POST", "/api/v1/deployments/{deployment}/rollback", deployments.rollback_deployment, P.PROJECT_OPERATE),
    route("GET", "/api/v1/deployments/{deployment}/logs", logs.deployment_logs, P.PROJECT_VIEW),
    route("POST", "/api/v1/users", people.create_user, P.USERS_WRITE),
    route("GET", "/api/v1/users", people.list_users, P.USERS_READ),
    route("PATCH", "/api/v1/users/{username}", people.update_user, P.USERS_WRITE),
    route("DELETE", "/api/v1/users/{username}", people.delete_user, P.USERS_WRITE),
    route("POST", "/api/v1/tokens", people.create_token, P.SIGNED_IN),
    route("GET", "/api/v1/tokens", people.list_tokens, P.SIGNED_IN),
    route("DELETE", "/api/v1/tokens/{token}", people.delete_token, P.SIGNED_IN),
    route("GET", "/api/v1/audit", people.read_audit, P.AUDIT_READ),
    route("GET", "/api/v1/notifications/providers", notifications.list_providers, P.NOTIFY_MANAGE),
    route("POST", "/api/v1/notifications/providers", notifications.create_provider, P.NOTIFY_MANAGE),
    route("PATCH", "/api/v1/notifications/providers/{provider}", notifications.update_provider, P.NOTIFY_MANAGE),
    route("DELETE", "/api/v1/notifications/providers/{provider}", notifications.delete_provider, P.NOTIFY_MANAGE),
    route("GET", "/api/v1/notifications/channels", notifications.list_channels, P.SIGNED_IN),
    route("POST", "/api/v1/notifications/channels", notifications.create_channel, P.NOTIFY_MANAGE),
    route("PATCH", "/api/v1/notifications/channels/{channel}", notifications.update_channel, P.NOTIFY_MANAGE),
    route("DELETE", "/api/v1/notifications/channels/{channel}", notifications.delete_channel, P.NOTIFY_MANAGE),
    route("POST", "/api/v1/notifications/channels/{channel}/test", notifications.send_test_message, P.NOTIFY_MANAGE),
    route("GET", "/api/v1/notifications/channels/{channel}/deliveries", notifications.list_deliveries, P.NOTIFY_MANAGE),
    route("GET", "/api/v1/notifications/subscriptions", subscriptions.list_subscriptions, P.ADMIN),
    route("POST", "/api/v1/notifications/subscriptions", subscriptions.create_subscription, P.ADMIN),
    route("DELETE", "/api/v1/notifications/subscriptions/{subscription}", subscriptions.delete_subscription, P.ADMIN),
    route("POST", "/hooks/github/{project}", webhooks.github_hook, P.WEBHOOK),
    route("POST", "/hooks/gitlab/{project}", webhooks.gitlab_hook, P.WEBHOOK),
    route("POST", "/hooks/gitea/{project}", webhooks.gitea_hook, P.WEBHOOK),
    route("GET", "/api/v1/queue", ops.queue_info, P.ADMIN),
    route("GET", "/api/v1/openapi.json", openapi_document, P.PUBLIC),
    route("GET", "/healthz", ops.healthz, P.PUBLIC),
    route("GET", "/readyz", ops.readyz, P.PUBLIC),
    route("GET", "/metrics", ops.metrics, P.METRICS),
    # The web UI: pages (not in the OpenAPI document) and their static files.
    *home.PAGES,
    *project_pages.PAGES,
    *target_pages.PAGES,
    *access_pages.PAGES,
    *deployment_pages.PAGES,
    *admin.PAGES,
    *notification_pages.PAGES,
    Mount("/static", StaticFiles(directory=FRONTEND / "static"), name="static"),
]  # fmt: skip
