"""The OpenAPI 3.1 document, generated from the route list: no route can be left out of it.

Every pattern and bound comes from the constant the handler or validator checks with, so the
document cannot promise what the API refuses (tests/test_docs.py holds them to it).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Route

from app.accounts.auth import MAX_PASSWORD, MIN_PASSWORD
from app.accounts.auth import USERNAME as USERNAME_PATTERN
from app.domain import pipeline as spec
from app.domain import targets as target_spec
from app.domain.access import PROJECT_ROLES, ROLES
from app.domain.notify import EMAIL_SECURITY, FIELDS, EventKind, ProviderKind
from app.domain.status import Concurrency, Kind, Status, Strategy
from app.notify.config import MAX_RECIPIENTS, MAX_TEXT, MAX_TIMEOUT
from app.notify.config import NAME as NOTIFY_NAME
from app.web.access import MAX_KNOWN_HOSTS
from app.web.logs import CURSOR as CURSOR_PATTERN
from app.web.notifications import MAX_LIMIT as MAX_NOTIFY_LIMIT
from app.web.projects import WEBHOOK_SECRET
from app.web.secrets import MAX_VALUE, MIN_MASKABLE, SECRET_NAME

ERROR = {"$ref": "#/components/schemas/Error"}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _pattern(regex: re.Pattern[str]) -> dict[str, Any]:
    """A string schema for a regex the API applies with `fullmatch`."""
    body = regex.pattern.removeprefix("^").removesuffix("$")
    return {"type": "string", "pattern": f"^{body}$"}


USERNAME = _pattern(USERNAME_PATTERN)
PASSWORD = {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD}
ROLE = {"enum": list(ROLES)}
SCRIPT = {"type": "string", "minLength": 1, "maxLength": spec.MAX_SCRIPT}
NOTIFY_NAME_SCHEMA = _pattern(NOTIFY_NAME)
# A provider's or channel's field; null removes it in a change.
NOTIFY_TEXT = {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_TEXT}
NOTIFY_FIELDS: dict[str, Any] = {
    "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
    "security": {"enum": [*EMAIL_SECURITY, None]},
    "chat_id": {"type": ["string", "integer", "null"]},
    "to": {
        "type": ["array", "null"],
        "minItems": 1,
        "maxItems": MAX_RECIPIENTS,
        "items": {"type": "string", "format": "email"},
    },
}


def _notify_fields(description: str, *groups: str) -> dict[str, Any]:
    """The fields `groups` of `FIELDS` name, over every kind (each kind takes some of them)."""
    names = sorted(
        {name for fields in FIELDS.values() for group in groups for name in getattr(fields, group)}
    )
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": {name: NOTIFY_FIELDS.get(name, NOTIFY_TEXT) for name in names},
    }


PROVIDER_SETTINGS = _notify_fields(
    "plain and secret settings together; which a kind takes: app/domain/notify.py FIELDS. "
    "Secret ones are never shown again, only their names.",
    "provider",
    "provider_secret",
)
CHANNEL_TARGET = _notify_fields(
    "where the channel sends (`url`, `chat_id` or `to`, by the provider's kind); a `url` is secret",
    "channel",
    "channel_secret",
)
NOTIFY_TIMEOUT = {"type": "number", "minimum": 0.1, "maximum": MAX_TIMEOUT}
TARGET_FIELDS: dict[str, Any] = {
    "host": {"type": "string", "minLength": 1, "maxLength": target_spec.MAX_HOST,
             "description": "a DNS name, or an IPv4 or IPv6 address"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535,
             "default": target_spec.DEFAULT_PORT},
    "user": _pattern(target_spec.USER),
    "path": {"type": "string", "pattern": "^/" + target_spec.PATH_CHARS.pattern[1:],
             "maxLength": target_spec.MAX_PATH,
             "description": "absolute, without `..`: releases go in path/releases, "
                            "path/current is switched"},
    "labels": {"type": "array", "maxItems": target_spec.MAX_LABELS,
               "items": _pattern(target_spec.LABEL), "default": []},
}  # fmt: skip
BODY_SCHEMAS: dict[str, Any] = {
    "Login": _object({"username": {"type": "string"}, "password": {"type": "string"}},
                     "username", "password"),
    "Trigger": _object({"ref": {"type": "string", "maxLength": 255},
                        "version": {"type": "string", "maxLength": 255}}),
    "ProjectRollback": _object({"to": {"type": "string", "format": "uuid"}}),
    "SecretValue": _object({"value": {"type": "string", "minLength": MIN_MASKABLE,
                                      "maxLength": MAX_VALUE}}, "value"),
    "Member": _object({"role": {"enum": list(PROJECT_ROLES)}}, "role"),
    "NewUser": _object({"username": USERNAME, "password": PASSWORD, "role": ROLE},
                       "username", "password"),
    "UserChange": _object({"role": ROLE, "disabled": {"type": "boolean"},
                           "password": PASSWORD}),
    "NewToken": _object({"name": {"type": "string", "minLength": 1, "maxLength": 128},
                         "expires_in_days": {"type": "integer", "minimum": 1,
                                             "maximum": 3650}}),
    "Push": {"type": "object", "description": "the forge's push (or other event) payload"},
    "NewProvider": {**_object({"name": NOTIFY_NAME_SCHEMA, "kind": {"enum": list(ProviderKind)},
                               "settings": PROVIDER_SETTINGS}, "name", "kind"),
                    "additionalProperties": False},
    "ProviderChange": {**_object({"settings": PROVIDER_SETTINGS}, "settings"),
                       "additionalProperties": False},
    "NewChannel": {**_object({"name": NOTIFY_NAME_SCHEMA, "provider": NOTIFY_NAME_SCHEMA,
                              "target": CHANNEL_TARGET, "timeout": NOTIFY_TIMEOUT},
                             "name", "provider"),
                   "additionalProperties": False},
    "ChannelChange": {**_object({"target": CHANNEL_TARGET, "timeout": NOTIFY_TIMEOUT}),
                      "additionalProperties": False},
    "NewTarget": {**_object({"name": _pattern(target_spec.TARGET_NAME), **TARGET_FIELDS},
                            "name", "host", "user", "path"),
                  "additionalProperties": False},
    "TargetChange": {**_object(TARGET_FIELDS), "additionalProperties": False,
                     "description": "any field of a target but its name"},
    "Subscription": {**_object({"channel": NOTIFY_NAME_SCHEMA,
                                "events": {"type": "array", "minItems": 1,
                                           "items": {"enum": list(EventKind)}}},
                               "channel", "events"),
                     "additionalProperties": False,
                     "description": "outage and recovered: all-projects subscriptions only"},
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
                "name": _pattern(spec.STAGE_NAME),
                "run": SCRIPT,
                "approval": {"type": "boolean"},
                "timeout": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": spec.MAX_TIMEOUT,
                    "default": spec.DEFAULT_TIMEOUT,
                },
                "retries": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": spec.MAX_RETRIES,
                    "default": 0,
                },
                "on": {
                    "enum": [spec.TARGETS],
                    "description": "targets: run on every target over SSH, after every stage "
                    "on the Capstan host (absent: on the Capstan host); never an approval",
                },
            },
        },
        "HealthCheck": {
            "type": ["object", "null"],
            "description": "after the switch, per target: a url ({host}: the target's host) "
            "or a command run there in the new current; on failure every switched host is "
            "rolled back",
            "properties": {
                "url": {"type": "string", "maxLength": spec.MAX_HEALTH_URL},
                "command": SCRIPT,
                **{
                    name: {"type": "integer", "minimum": low, "maximum": high, "default": default}
                    for name, (low, high, default) in spec.HEALTH_BOUNDS.items()
                },
            },
            "additionalProperties": False,
        },
        "Project": {
            "type": "object",
            "properties": {
                "name": _pattern(spec.PROJECT_NAME),
                "repo_url": {"type": ["string", "null"], "maxLength": spec.MAX_REPO_URL},
                "branch": {"type": "string", "maxLength": 255, "default": "main"},
                "stages": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": spec.MAX_STAGES,
                    "items": {"$ref": "#/components/schemas/Stage"},
                },
                "concurrency": {"enum": [c.value for c in Concurrency]},
                "keep_releases": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": spec.MAX_KEEP_RELEASES,
                    "default": spec.KEEP_RELEASES,
                },
                "keep_logs": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": spec.MAX_KEEP_LOGS,
                },
                "keep_log_days": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": spec.MAX_KEEP_LOG_DAYS,
                },
                "on_rollback": {"type": ["string", "null"], "maxLength": spec.MAX_SCRIPT},
                "deploy_tags": {"type": ["string", "null"], "maxLength": spec.MAX_TAG_GLOB},
                "paths": {
                    "type": ["array", "null"],
                    "maxItems": spec.MAX_GLOBS,
                    "items": {"type": "string", "minLength": 1, "maxLength": spec.MAX_GLOB},
                },
                "members_can_approve": {"type": "boolean"},
                "no_self_approval": {"type": "boolean"},
                "strategy": {
                    "enum": [s.value for s in Strategy],
                    "default": Strategy.ALL.value,
                    "description": "all: every target at once, switched when all are ready; "
                    "rolling: batch_size targets at a time",
                },
                "batch_size": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": spec.MAX_BATCH_SIZE,
                    "default": 1,
                },
                "health_check": {"$ref": "#/components/schemas/HealthCheck"},
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
            "properties": {"secret": _pattern(WEBHOOK_SECRET)},
            "additionalProperties": False,
        },
        "DeployKey": {
            "type": "object",
            "description": "the public half only: the private key never leaves the server",
            "properties": {
                "public_key": {"type": "string", "description": "ssh-ed25519 AAAA... capstan:NAME"},
                "fingerprint": {"type": "string", "description": "SHA256:..."},
            },
        },
        "HostKey": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "host": {"type": "string"},
                "port": {"type": "integer"},
                "key": {"type": "string", "description": "algorithm and base64"},
                "fingerprint": {"type": "string"},
                "trusted": {"type": "boolean"},
                "seen_at": {"type": "string", "format": "date-time"},
                "accepted_by": {"type": ["string", "null"]},
                "accepted_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "NewHostKeys": {
            "type": "object",
            "description": "either known_hosts lines to trust, or a host to scan now (its key is "
            "recorded untrusted, to compare and accept)",
            "oneOf": [
                {
                    "required": ["known_hosts"],
                    "additionalProperties": False,
                    "properties": {
                        "known_hosts": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_KNOWN_HOSTS,
                            "description": "`host[,host] algorithm base64`, `[host]:port` for "
                            "another port; no hashed names",
                        }
                    },
                },
                {
                    "required": ["host"],
                    "additionalProperties": False,
                    "properties": {
                        "host": TARGET_FIELDS["host"],
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
                    },
                },
            ],
        },
        "Deployment": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "project": {"type": "string"},
                "seq": {"type": "integer"},
                "kind": {"enum": [k.value for k in Kind]},
                "status": {"enum": [s.value for s in Status]},
                "stages": {"type": "array", "items": {"type": "object"}},
                "targets": {
                    "type": ["array", "null"],
                    "items": {"type": "object"},
                    "description": "per target: name, status (pending, shipped, ready, "
                    "switched, healthy, failed, rolled_back), previous release, release",
                },
            },
        },
        "Target": {
            "type": "object",
            "description": "a server the project deploys to over SSH; never its private key",
            "properties": {
                "name": _pattern(target_spec.TARGET_NAME),
                **TARGET_FIELDS,
                "public_key": {
                    "type": "string",
                    "readOnly": True,
                    "description": "the OpenSSH line for the host's authorized_keys",
                },
                "fingerprint": {"type": "string", "readOnly": True},
                "current_release": {"type": ["string", "null"], "readOnly": True},
                "health": {
                    "type": ["object", "null"],
                    "readOnly": True,
                    "description": "the last health check: ok, at, detail",
                },
            },
        },
        "TargetCheck": {
            "type": "object",
            "description": "what connecting to the target as its user found",
            "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}},
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
    ("POST", "/api/v1/projects/{project}/host-keys"): "NewHostKeys",
    ("PUT", "/api/v1/projects/{project}/members/{username}"): "Member",
    ("POST", "/api/v1/users"): "NewUser",
    ("PATCH", "/api/v1/users/{username}"): "UserChange",
    ("POST", "/api/v1/tokens"): "NewToken",
    **{("POST", path): "Push" for path in HOOKS.values()},
    ("POST", "/api/v1/notifications/providers"): "NewProvider",
    ("PATCH", "/api/v1/notifications/providers/{provider}"): "ProviderChange",
    ("POST", "/api/v1/notifications/channels"): "NewChannel",
    ("PATCH", "/api/v1/notifications/channels/{channel}"): "ChannelChange",
    ("POST", "/api/v1/notifications/subscriptions"): "Subscription",
    ("POST", "/api/v1/projects/{project}/subscriptions"): "Subscription",
    ("POST", "/api/v1/projects/{project}/targets"): "NewTarget",
    ("PATCH", "/api/v1/projects/{project}/targets/{target}"): "TargetChange",
}
OPTIONAL_BODIES = {
    ("POST", "/api/v1/projects/{project}/webhook-secret"),
    ("POST", "/api/v1/projects/{project}/deploy-key"),
    ("POST", "/api/v1/projects/{project}/deployments"),
    ("POST", "/api/v1/projects/{project}/rollback"),
    ("POST", "/api/v1/tokens"),
}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "project": _pattern(spec.PROJECT_NAME),
    "username": USERNAME,
    "name": _pattern(SECRET_NAME),
    "deployment": {"type": "string", "format": "uuid"},
    "delivery": {"type": "string", "format": "uuid"},
    "token": {"type": "string", "format": "uuid"},
    "provider": NOTIFY_NAME_SCHEMA,
    "channel": NOTIFY_NAME_SCHEMA,
    "subscription": {"type": "string", "format": "uuid"},
    "host_key": {"type": "integer", "minimum": 1},
    "target": _pattern(target_spec.TARGET_NAME),
}


def _query(name: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema}


def _limit(high: int) -> dict[str, Any]:
    return _query("limit", {"type": "integer", "minimum": 1, "maximum": high})


CURSOR = _pattern(CURSOR_PATTERN)
PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("GET", "/api/v1/projects/{project}/deployments"): [
        _limit(100), _query("before", {"type": "integer", "minimum": 1})],
    ("GET", "/api/v1/projects/{project}/deliveries"): [_limit(100)],
    ("GET", "/api/v1/deployments/{deployment}/logs"): [
        _query("after", CURSOR), _query("follow", {"enum": ["0", "1"]}),
        _query("tail", CURSOR), _query("before", CURSOR),
        _query("batch", {"enum": ["0", "1"]}), _query("Last-Event-ID", CURSOR, "header")],
    ("GET", "/api/v1/audit"): [
        *(_query(name, {"type": "string", "maxLength": width})
          for name, width in (("project", 63), ("actor", 128), ("action", 64))),
        _limit(500)],
    ("GET", "/api/v1/notifications/channels/{channel}/deliveries"): [
        _limit(MAX_NOTIFY_LIMIT), _query("before", {"type": "string", "format": "uuid"})],
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
