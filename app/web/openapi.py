"""The OpenAPI 3.1 document, generated from the route list: no route can be left out of it."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Route

from app.domain.pipeline import DEFAULT_TIMEOUT, MAX_GLOBS, MAX_RETRIES, MAX_STAGES, MAX_TIMEOUT

ERROR = {"$ref": "#/components/schemas/Error"}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


USERNAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 1024}
ROLE = {"enum": ["admin", "manager", "developer", "viewer"]}
BODY_SCHEMAS: dict[str, Any] = {
    "Login": _object({"username": {"type": "string"}, "password": {"type": "string"}},
                     "username", "password"),
    "Trigger": _object({"ref": {"type": "string", "maxLength": 255},
                        "version": {"type": "string", "maxLength": 255}}),
    "ProjectRollback": _object({"to": {"type": "string", "format": "uuid"}}),
    "SecretValue": _object({"value": {"type": "string", "minLength": 4,
                                      "maxLength": 65536}}, "value"),
    "Member": _object({"role": {"enum": ["owner", "member"]}}, "role"),
    "NewUser": _object({"username": USERNAME, "password": PASSWORD, "role": ROLE},
                       "username", "password"),
    "UserChange": _object({"role": ROLE, "disabled": {"type": "boolean"},
                           "password": PASSWORD}),
    "NewToken": _object({"name": {"type": "string", "minLength": 1, "maxLength": 128},
                         "expires_in_days": {"type": "integer", "minimum": 1,
                                             "maximum": 3650}}),
    "Push": {"type": "object", "description": "the forge's push (or other event) payload"},
}  # fmt: skip

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
                "run": {"type": "string", "minLength": 1, "maxLength": 65536},
                "approval": {"type": "boolean"},
                "timeout": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_TIMEOUT,
                    "default": DEFAULT_TIMEOUT,
                },
                "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES, "default": 0},
            },
        },
        "Project": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                "repo_url": {"type": ["string", "null"], "maxLength": 2048},
                "branch": {"type": "string", "maxLength": 255, "default": "main"},
                "stages": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_STAGES,
                    "items": {"$ref": "#/components/schemas/Stage"},
                },
                "concurrency": {"enum": ["queue", "reject", "supersede"]},
                "keep_releases": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                "on_rollback": {"type": ["string", "null"], "maxLength": 65536},
                "deploy_tags": {"type": ["string", "null"], "maxLength": 255},
                "paths": {
                    "type": ["array", "null"],
                    "maxItems": MAX_GLOBS,
                    "items": {"type": "string", "minLength": 1, "maxLength": 1024},
                },
                "members_can_approve": {"type": "boolean"},
                "no_self_approval": {"type": "boolean"},
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
        **BODY_SCHEMAS,
    },
}

HOOKS = {"github": "/hooks/github/{project}", "gitlab": "/hooks/gitlab/{project}",
         "gitea": "/hooks/gitea/{project}"}  # fmt: skip
REQUEST_BODIES = {
    ("POST", "/login"): "Login",
    ("POST", "/api/v1/projects"): "Project",
    ("PATCH", "/api/v1/projects/{project}"): "Project",
    ("POST", "/api/v1/projects/{project}/webhook-secret"): "WebhookSecret",
    ("POST", "/api/v1/projects/{project}/deployments"): "Trigger",
    ("POST", "/api/v1/projects/{project}/rollback"): "ProjectRollback",
    ("PUT", "/api/v1/projects/{project}/secrets/{name}"): "SecretValue",
    ("PUT", "/api/v1/projects/{project}/members/{username}"): "Member",
    ("POST", "/api/v1/users"): "NewUser",
    ("PATCH", "/api/v1/users/{username}"): "UserChange",
    ("POST", "/api/v1/tokens"): "NewToken",
    **{("POST", path): "Push" for path in HOOKS.values()},
}
OPTIONAL_BODIES = {
    ("POST", "/api/v1/projects/{project}/webhook-secret"),
    ("POST", "/api/v1/projects/{project}/deployments"),
    ("POST", "/api/v1/projects/{project}/rollback"),
    ("POST", "/api/v1/tokens"),
}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "project": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
    "username": USERNAME,
    "name": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]{0,127}$"},
    "deployment": {"type": "string", "format": "uuid"},
    "delivery": {"type": "string", "format": "uuid"},
    "token": {"type": "string", "format": "uuid"},
}


def _query(name: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema}


def _limit(high: int) -> dict[str, Any]:
    return _query("limit", {"type": "integer", "minimum": 1, "maximum": high})


CURSOR = {"type": "string", "pattern": "^[0-9]{1,18}$"}
PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("GET", "/api/v1/projects/{project}/deployments"): [
        _limit(100), _query("before", {"type": "integer", "minimum": 1})],
    ("GET", "/api/v1/projects/{project}/deliveries"): [_limit(100)],
    ("GET", "/api/v1/deployments/{deployment}/logs"): [
        _query("after", CURSOR), _query("follow", {"enum": ["0", "1"]}),
        _query("Last-Event-ID", CURSOR, "header")],
    ("GET", "/api/v1/audit"): [
        *(_query(name, {"type": "string", "maxLength": width})
          for name, width in (("project", 63), ("actor", 128), ("action", 64))),
        _limit(500)],
    **{("POST", path): [_query(header, {"type": "string"}, "header") for header in headers]
       for path, headers in (
           (HOOKS["github"], ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256")),
           (HOOKS["gitlab"], ("X-Gitlab-Event", "Idempotency-Key", "X-Gitlab-Token")),
           (HOOKS["gitea"], ("X-Gitea-Event", "X-Gitea-Delivery", "X-Gitea-Signature")))},
}  # fmt: skip


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
        {"name": name, "in": "path", "required": True,
         "schema": PATH_PARAMETERS.get(name, {"type": "string"})}
        for name in re.findall(r"{(\w+)}", route.path)
    ] + PARAMETERS.get((method, route.path), [])  # fmt: skip
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
