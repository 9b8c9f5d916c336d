"""GitHub, GitLab and Gitea/Forgejo: how each signs a delivery and what its push payload says.

`verify` runs on the raw bytes before anything is parsed, in constant time. `parse` turns the
payload into a `Push`; `envelope` reads only the headers (delivery id and event), for a body
that cannot be parsed.

What is signed: GitHub signs the raw body, also a form one (`payload=<json>`). Gitea and Forgejo
sign the JSON payload itself, which a form body carries URL-encoded in its `payload` field
(services/webhook/deliver.go). GitLab signs nothing: `X-Gitlab-Token` is the secret itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes, urlsplit

from app.domain.text import unstorable
from app.forges.push import ZERO_SHA, BadPayload, Push, changed_paths

HEX64 = re.compile(r"^[0-9a-f]{64}$")
GITHUB_LIST_LIMIT = 2048  # GitHub's documented most commits in a push payload
MAX_EVENT = 64  # the width of the deliveries' `event` column


class Provider(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...

    def envelope(self, headers: Mapping[str, str], body: bytes) -> Push: ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> Push: ...


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same_hex(given: str, expected: str) -> bool:
    given = given.strip().lower()
    return bool(HEX64.fullmatch(given)) and hmac.compare_digest(given, expected)


def _is_form(headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/x-www-form-urlencoded"


def form_payload(body: bytes) -> bytes | None:
    """The decoded bytes of a form body's first `payload` field (None without one)."""
    for pair in body.split(b"&"):
        name, equals, value = pair.partition(b"=")
        if equals and unquote_to_bytes(name.replace(b"+", b" ")) == b"payload":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def json_payload(headers: Mapping[str, str], body: bytes) -> bytes | None:
    """The JSON text of a delivery: the body, or its `payload` field when it is a form."""
    return form_payload(body) if _is_form(headers) else body


def payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery: the body, or its `payload` form field."""
    text = json_payload(headers, body)
    try:
        data = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        raise BadPayload("the body is not a JSON payload") from None
    if not isinstance(data, dict):
        raise BadPayload("the payload is not a JSON object")
    bad = unstorable(data)  # no forge sends one: git refuses NUL, UTF-8 has no lone surrogate
    if bad is not None:
        raise BadPayload(f"the payload's {bad} holds a NUL character or an unpaired surrogate")
    return data


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _delivery_id(headers: Mapping[str, str], names: tuple[str, ...], body: bytes) -> str:
    """The sender's delivery id, or a digest of the body when it sends none."""
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return value[:128]
    return "sha256:" + hashlib.sha256(body).hexdigest()[:40]


def _api_base(web_url: object, suffix: str, api_path: str) -> str | None:
    """`https://host/prefix/api/...` from a repository's web URL ending in `suffix`."""
    url = _text(web_url)
    if not url or not suffix or not url.endswith(suffix):
        return None
    parts = urlsplit(url.removesuffix(suffix))
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{api_path}"


class GitHub:
    name = "github"
    EVENT = "x-github-event"
    DELIVERY: tuple[str, ...] = ("x-github-delivery",)

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        signature = headers.get("x-hub-signature-256", "")
        if not signature.startswith("sha256="):
            return False
        return _same_hex(signature.removeprefix("sha256="), _hmac_hex(secret, body))

    def event(self, headers: Mapping[str, str]) -> str:
        return headers.get(self.EVENT, "").strip().lower()[:MAX_EVENT] or "unknown"

    def complete(self, data: dict[str, Any]) -> bool:
        """Whether `commits` surely lists them all (GitHub documents at most 2048)."""
        commits = data.get("commits")
        return isinstance(commits, list) and len(commits) < GITHUB_LIST_LIMIT

    def api(self, data: dict[str, Any]) -> str | None:
        return None

    def envelope(self, headers: Mapping[str, str], body: bytes) -> Push:
        return Push(self.name, _delivery_id(headers, self.DELIVERY, body), self.event(headers))

    def parse(self, headers: Mapping[str, str], body: bytes) -> Push:
        envelope = self.envelope(headers, body)
        data = payload(headers, body)
        if envelope.event != "push":
            return envelope
        after = _text(data.get("after"))
        return dataclasses.replace(
            envelope,
            ref=_text(data.get("ref")),
            before=_text(data.get("before")),
            commit=_text(_dig(data, "head_commit", "id")) or after,
            pusher=_text(_dig(data, "pusher", "name"))
            or _text(_dig(data, "pusher", "login"))
            or _text(_dig(data, "sender", "login")),
            paths=changed_paths(data.get("commits"), self.complete(data)),
            deleted=bool(data.get("deleted")) or after == ZERO_SHA,
            repository=_text(_dig(data, "repository", "full_name")),
            api=self.api(data),
        )


class Gitea(GitHub):
    """Gitea and Forgejo: GitHub's payload, but their own headers come first (they send
    GitHub's too), and the signature is bare hex over the JSON payload, form or not."""

    name = "gitea"
    DELIVERY = ("x-gitea-delivery", "x-forgejo-delivery", "x-github-delivery")

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        signature = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature") or ""
        signed = json_payload(headers, body)
        return signed is not None and _same_hex(signature, _hmac_hex(secret, signed))

    def event(self, headers: Mapping[str, str]) -> str:
        for name in ("x-gitea-event", "x-forgejo-event", "x-gogs-event", self.EVENT):
            if headers.get(name):
                return headers[name].strip().lower()[:MAX_EVENT] or "unknown"
        return "unknown"

    def complete(self, data: dict[str, Any]) -> bool:
        commits, total = data.get("commits"), data.get("total_commits")
        if not isinstance(commits, list):
            return False
        return not isinstance(total, int) or total <= len(commits)

    def api(self, data: dict[str, Any]) -> str | None:
        full_name = _text(_dig(data, "repository", "full_name")) or ""
        return _api_base(_dig(data, "repository", "html_url"), "/" + full_name, "/api/v1")


class GitLab:
    name = "gitlab"
    EVENTS = {"push hook": "push", "tag push hook": "push"}

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        token = headers.get("x-gitlab-token", "")
        return bool(token) and hmac.compare_digest(token.encode(), secret.encode())

    def envelope(self, headers: Mapping[str, str], body: bytes) -> Push:
        raw_event = headers.get("x-gitlab-event", "").strip().lower()[:MAX_EVENT]
        event = self.EVENTS.get(raw_event, raw_event or "unknown")
        delivery = _delivery_id(
            headers, ("idempotency-key", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid"), body
        )
        return Push(self.name, delivery, event)

    def parse(self, headers: Mapping[str, str], body: bytes) -> Push:
        envelope = self.envelope(headers, body)
        data = payload(headers, body)
        if envelope.event != "push":
            return envelope
        after = _text(data.get("after"))
        commits = data.get("commits")
        total = data.get("total_commits_count")
        complete = isinstance(commits, list) and (
            not isinstance(total, int) or total <= len(commits)
        )
        project_id = _dig(data, "project", "id")
        namespace = _text(_dig(data, "project", "path_with_namespace"))
        web_url = _dig(data, "project", "web_url")
        # `checkout_sha: null` with a real `after`: the ref no longer exists (a deleted tag).
        gone = "checkout_sha" in data and data["checkout_sha"] is None
        return dataclasses.replace(
            envelope,
            ref=_text(data.get("ref")),
            before=_text(data.get("before")),
            commit=_text(data.get("checkout_sha")) or after,
            pusher=_text(data.get("user_username")) or _text(data.get("user_name")),
            paths=changed_paths(commits, complete),
            deleted=after == ZERO_SHA or gone,
            repository=str(project_id) if isinstance(project_id, int) else namespace,
            api=_api_base(web_url, "/" + (namespace or ""), "/api/v4"),
        )


PROVIDERS: dict[str, Provider] = {p.name: p for p in (GitHub(), GitLab(), Gitea())}
