"""The whole HTTP surface, top to bottom."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.web import api, hooks, logs, openapi, ops, secrets


async def openapi_document(request: Request) -> Response:
    """This OpenAPI document."""
    return JSONResponse(openapi.document(ROUTES))


ROUTES: list[BaseRoute] = [
    Route("/api/v1/projects", api.create_project, methods=["POST"]),
    Route("/api/v1/projects", api.list_projects, methods=["GET"]),
    Route("/api/v1/projects/{project}", api.get_project, methods=["GET"]),
    Route("/api/v1/projects/{project}", api.update_project, methods=["PATCH"]),
    Route("/api/v1/projects/{project}", api.delete_project, methods=["DELETE"]),
    Route("/api/v1/projects/{project}/webhook-secret", api.rotate_webhook_secret, methods=["POST"]),
    Route("/api/v1/projects/{project}/deployments", api.trigger_deployment, methods=["POST"]),
    Route("/api/v1/projects/{project}/deployments", api.list_deployments, methods=["GET"]),
    Route("/api/v1/projects/{project}/rollback", api.rollback_project, methods=["POST"]),
    Route("/api/v1/projects/{project}/deliveries", hooks.list_deliveries, methods=["GET"]),
    Route(
        "/api/v1/projects/{project}/deliveries/{delivery}/replay",
        hooks.replay_delivery,
        methods=["POST"],
    ),
    Route("/api/v1/projects/{project}/secrets", secrets.list_secrets, methods=["GET"]),
    Route("/api/v1/projects/{project}/secrets/{name}", secrets.put_secret, methods=["PUT"]),
    Route("/api/v1/projects/{project}/secrets/{name}", secrets.delete_secret, methods=["DELETE"]),
    Route("/api/v1/deployments/{deployment}", api.get_deployment, methods=["GET"]),
    Route("/api/v1/deployments/{deployment}/approve", api.approve_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{deployment}/cancel", api.cancel_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{deployment}/rollback", api.rollback_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{deployment}/logs", logs.deployment_logs, methods=["GET"]),
    Route("/hooks/github/{project}", hooks.github_hook, methods=["POST"]),
    Route("/hooks/gitlab/{project}", hooks.gitlab_hook, methods=["POST"]),
    Route("/hooks/gitea/{project}", hooks.gitea_hook, methods=["POST"]),
    Route("/api/v1/queue", ops.queue_info, methods=["GET"]),
    Route("/api/v1/openapi.json", openapi_document, methods=["GET"]),
    Route("/healthz", ops.healthz, methods=["GET"]),
    Route("/readyz", ops.readyz, methods=["GET"]),
    Route("/metrics", ops.metrics, methods=["GET"]),
]
