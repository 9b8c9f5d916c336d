"""Push payloads as each provider sends them, after the examples in their documentation
(trimmed of fields Capstan does not read, but keeping their shape and neighbours)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote_plus

ZERO = "0" * 40


def github_push(
    ref: str, after: str, *, before: str = ZERO, files: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    commit = {
        "id": after,
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True,
        "message": "Update README.md — ünïcödé",
        "timestamp": "2026-11-20T15:29:34-05:00",
        "url": f"https://github.com/Codertocat/Hello-World/commit/{after}",
        "author": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
        "committer": {"name": "GitHub", "email": "noreply@github.com"},
        "added": [],
        "removed": [],
        "modified": files if files is not None else ["README.md"],
    }
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/Codertocat/Hello-World/compare/6113728f27ae...000000000000",
        "commits": [commit] if after != ZERO else [],
        "head_commit": commit if after != ZERO else None,
        "repository": {
            "id": 186853002,
            "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": "Hello-World",
            "full_name": "Codertocat/Hello-World",
            "private": False,
            "html_url": "https://github.com/Codertocat/Hello-World",
            "default_branch": "master",
        },
        "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
        "sender": {"login": "Codertocat", "id": 21031067, "type": "User"},
        **extra,
    }


def gitlab_push(ref: str, after: str, *, before: str = ZERO, files: list[str] | None = None,
                tag: bool = False) -> dict[str, Any]:  # fmt: skip
    """A push (or, with `tag`, a tag push: GitLab lists no commits for those)."""
    commit = {
        "id": after,
        "message": "fixed readme",
        "title": "fixed readme",
        "timestamp": "2026-11-20T23:36:29+02:00",
        "url": f"http://example.com/mike/diaspora/commit/{after}",
        "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"},
        "added": ["CHANGELOG"],
        "modified": files if files is not None else ["app/controller/application.rb"],
        "removed": [],
    }
    return {
        "object_kind": "tag_push" if tag else "push",
        "event_name": "tag_push" if tag else "push",
        "before": before,
        "after": after,
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": after if after != ZERO else None,
        "user_id": 4,
        "user_name": "John Smith",
        "user_username": "jsmith",
        "user_email": "john@example.com",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": "Diaspora",
            "web_url": "http://example.com/mike/diaspora",
            "git_ssh_url": "git@example.com:mike/diaspora.git",
            "git_http_url": "http://example.com/mike/diaspora.git",
            "namespace": "Mike",
            "path_with_namespace": "mike/diaspora",
            "default_branch": "master",
        },
        "commits": [commit] if after != ZERO and not tag else [],
        "total_commits_count": 1 if after != ZERO and not tag else 0,
        "repository": {"name": "Diaspora", "url": "git@example.com:mike/diaspora.git"},
        **({"message": "Tag message"} if tag else {}),
    }


def gitea_push(ref: str, after: str, *, before: str = ZERO,
               files: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    commit = {
        "id": after,
        "message": "Ändere Datei README.md\n",
        "url": f"https://gitea.example.com/gitea/webhooks/commit/{after}",
        "author": {"name": "Gitea", "email": "someone@gitea.io", "username": "gitea"},
        "committer": {"name": "Gitea", "email": "someone@gitea.io", "username": "gitea"},
        "timestamp": "2026-11-20T21:12:47+01:00",
        "added": [],
        "removed": [],
        "modified": files if files is not None else ["README.md"],
    }
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": "https://gitea.example.com/gitea/webhooks/compare/a...b",
        "commits": [commit] if after != ZERO else [],
        "total_commits": 1 if after != ZERO else 0,
        "head_commit": commit if after != ZERO else None,
        "repository": {
            "id": 140,
            "owner": {"id": 1, "login": "gitea", "username": "gitea"},
            "name": "webhooks",
            "full_name": "gitea/webhooks",
            "html_url": "https://gitea.example.com/gitea/webhooks",
            "default_branch": "main",
        },
        "pusher": {"id": 1, "login": "gitea", "username": "gitea"},
        "sender": {"id": 1, "login": "gitea", "username": "gitea"},
    }


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(secret: str, body: bytes, event: str = "push", delivery: str = "d-1",
                   **extra: str) -> dict[str, str]:  # fmt: skip
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": "sha256=" + sign(secret, body),
        **extra,
    }


def gitlab_headers(secret: str, event: str = "Push Hook", delivery: str = "g-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/18.5.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": secret,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Webhook-UUID": "16412e5a-7d5a-4b4a-9a0f-1a2b3c4d5e6f",
        "Idempotency-Key": delivery,
    }


def gitea_headers(
    secret: str, body: bytes, event: str = "push", delivery: str = "t-1"
) -> dict[str, str]:
    signature = sign(secret, body)
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Event-Type": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": signature,
        "X-Gogs-Event": event,
        "X-Gogs-Delivery": delivery,
        # Gitea sends GitHub's headers as well.
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + signature,
    }


def forgejo_headers(
    secret: str, body: bytes, event: str = "push", delivery: str = "f-1"
) -> dict[str, str]:
    """Forgejo's headers: its own, and Gitea's, Gogs' and GitHub's as well."""
    signature = sign(secret, body)
    forgejo = {
        "X-Forgejo-Event": event,
        "X-Forgejo-Event-Type": event,
        "X-Forgejo-Delivery": delivery,
        "X-Forgejo-Signature": signature,
    }
    return {**forgejo, **gitea_headers(secret, body, event, delivery)}


def go_form(payload: bytes) -> bytes:
    """The form body Gitea and Forgejo send for the form content type: Go's
    `url.Values{"payload": {payload}}.Encode()`. They sign `payload`, not this body."""
    return b"payload=" + quote_plus(payload).encode()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
