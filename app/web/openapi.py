"""The OpenAPI 3.1 document, generated from the route list: no route can be left out of it."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Route

ERROR = {"$ref": "#/components/schemas/Error"}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "token": {"type": "http", "scheme": "bearer", "description": "an API token, cap_..."},
        "session": {"type": "apiKey", "in": "cookie", "name": "capstan_session"},
    },
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                    },
                }
            },
        },
        "Stage": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
                "run": {"type": "string"},
                "approval": {"type": "boolean"},
                "timeout": {"type": "integer", "minimum": 1, "default": 3600},
                "retries": {"type": "integer", "minimum": 0, "default": 0},
            },
        },
        "Project": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                "repo_url": {"type": ["string", "null"]},
                "branch": {"type": "string", "default": "main"},
                "stages": {"type": "array", "items": {"$ref": "#/components/schemas/Stage"}},
                "concurrency": {"enum": ["queue", "reject", "supersede"]},
                "keep_releases": {"type": "integer", "minimum": 1, "default": 5},
                "on_rollback": {"type": ["string", "null"]},
                "deploy_tags": {"type": ["string", "null"]},
                "paths": {"type": ["array", "null"], "items": {"type": "string"}},
                "webhook_url": {"type": "string", "readOnly": True},
                "webhook_urls": {
                    "type": "object",
                    "readOnly": True,
                    "description": "absolute webhook URLs by forge: github, gitlab, gitea",
                    "additionalProperties": {"type": "string", "format": "uri"},
                },
            },
        },
        "WebhookSecret": {
            "type": "object",
            "description": "optional: without `secret`, a random one is made",
            "properties": {"secret": {"type": "string", "pattern": "^[!-~]{16,256}$"}},
            "additionalProperties": False,
        },
        "Deployment": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "project": {"type": "string"},
                "seq": {"type": "integer"},
                "kind": {"enum": ["deploy", "rollback", "redeploy"]},
                "status": {
                    "enum": [
                        "PENDING",
                        "IN_PROGRESS",
                        "COMPLETED",
                        "FAILED",
                        "CANCELLED",
                        "ROLLED_BACK",
                    ]
                },
                "stages": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
}

REQUEST_BODIES = {
    ("POST", "/api/v1/projects"): "Project",
    ("PATCH", "/api/v1/projects/{project}"): "Project",
    ("POST", "/api/v1/projects/{project}/webhook-secret"): "WebhookSecret",
}
OPTIONAL_BODIES = {("POST", "/api/v1/projects/{project}/webhook-secret")}


def document(routes: list[BaseRoute], permissions: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The document; `permissions` names what each (method, path) needs (`public`,
    `webhook`, or a permission that requires signing in)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = _operation(route, method)
            needs = permissions.get((method, route.path), "public")
            if needs not in ("public", "webhook"):
                operation["security"] = [{"token": []}, {"session": []}]
                operation["x-capstan-permission"] = needs
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Capstan", "version": "1"},
        "paths": paths,
        "components": COMPONENTS,
    }


def _operation(route: Route, method: str) -> dict[str, Any]:
    doc = (route.endpoint.__doc__ or route.name).strip()
    summary = doc.split("\n\n")[0].replace("\n", " ")
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": summary,
        "responses": {
            "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}}
        },
    }
    operation["responses"]["2XX"] = {"description": "success"}
    if params:
        operation["parameters"] = params
    schema = REQUEST_BODIES.get((method, route.path))
    if schema:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        operation["requestBody"] = {
            "required": (method, route.path) not in OPTIONAL_BODIES,
            "content": {"application/json": {"schema": ref}},
        }
    return operation
