"""Tortoise models: the database is the source of truth for every deployment.

Two columns of `Deployment` carry the engine's guarantees:
- `active_slot` holds the project's id while the deployment occupies the project (from the
  moment it starts until its processes are gone). It is unique, so the database itself
  refuses a second active deployment per project, whatever the number of workers.
- `revision` is bumped by every change. Each write names the revision it read
  (`UPDATE ... WHERE revision = <read>`), so it doubles as the fencing token of the lease:
  a worker whose lease was taken over cannot change anything.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.domain.access import ProjectRole, Role
from app.domain.notify import DeliveryStatus, ProviderKind
from app.domain.status import Concurrency, Kind, Outcome, StageState, Status, Strategy


class Project(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    repo_url = fields.TextField(null=True)
    branch = fields.CharField(max_length=255, default="main")
    stages: list[dict[str, Any]] = fields.JSONField()
    concurrency = fields.CharEnumField(Concurrency, max_length=16, default=Concurrency.QUEUE)
    keep_releases = fields.IntField(default=5)
    # Log retention (app/logs/retention.py): the last N deployments' logs, those of N days.
    keep_logs = fields.IntField(null=True)
    keep_log_days = fields.IntField(null=True)
    on_rollback = fields.TextField(null=True)
    webhook_secret = fields.TextField(description="AES-256-GCM ciphertext, never plaintext")
    deploy_tags = fields.CharField(max_length=255, null=True)
    members_can_approve = fields.BooleanField(default=False)
    no_self_approval = fields.BooleanField(default=False)
    paths: list[str] | None = fields.JSONField(null=True)
    # Where commit statuses go: {"provider", "repository", "api"}, from the last push delivery.
    source: dict[str, str] | None = fields.JSONField(null=True)
    current_deployment_id = fields.UUIDField(null=True)
    # The project's SSH deploy key (ed25519) for private repositories: the private half
    # AES-256-GCM encrypted, the public half (OpenSSH) shown for a forge's deploy-key page.
    deploy_key = fields.TextField(null=True, description="AES-256-GCM ciphertext, never plaintext")
    deploy_key_public = fields.TextField(null=True)
    # How a deployment reaches the project's targets, and what proves a host healthy after.
    strategy = fields.CharEnumField(Strategy, max_length=16, default=Strategy.ALL)
    batch_size = fields.IntField(default=1, description="hosts at a time when rolling")
    health_check: dict[str, Any] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "projects"


class Deployment(Model):
    seq = fields.BigIntField(primary_key=True)
    id = fields.UUIDField(unique=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="deployments", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(Kind, max_length=16)
    status = fields.CharEnumField(Status, max_length=16, db_index=True)
    ref = fields.CharField(max_length=255, null=True)
    commit = fields.CharField(max_length=64, null=True)
    version = fields.CharField(max_length=255, null=True, description="the user's label")
    # The stage specs frozen at trigger time, and each stage's status, attempt, exit code, times.
    pipeline: list[dict[str, Any]] = fields.JSONField()
    stages: list[StageState] = fields.JSONField()
    stage_index = fields.IntField(default=0)
    trigger: dict[str, Any] = fields.JSONField()
    release = fields.CharField(max_length=255, null=True)
    report: dict[str, str] | None = fields.JSONField(null=True)
    rollback_to = fields.UUIDField(null=True)
    error = fields.TextField(null=True)
    # Every secret value a stage of this run was given, AES-256-GCM encrypted: they stay
    # masked for the whole run even after they change, whichever worker resumes it.
    seen_secrets = fields.TextField(null=True)
    # Per target: {"name", "status", "previous", "release"}: what a resumed or failed run
    # needs to finish, or roll back, the hosts it reached.
    targets: list[dict[str, Any]] | None = fields.JSONField(null=True)
    active_slot = fields.UUIDField(null=True, unique=True)
    lease_holder = fields.CharField(max_length=128, null=True)
    lease_expires = fields.DatetimeField(null=True)
    revision = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    project_id: str

    class Meta:
        table = "deployments"
        # (project, seq): a project's history newest first, any cursor, one index range scan.
        indexes = (("project_id", "status"), ("project_id", "seq"))


class LogChunk(Model):
    """A batch of log records with consecutive cursors `first_cursor..last_cursor`.

    `kind` is `lines` (data: the lines joined by newlines) or `stage` (data: one JSON object).
    Batching keeps a stage that prints a million lines at a few hundred rows.
    """

    id = fields.BigIntField(primary_key=True)
    deployment: fields.ForeignKeyRelation[Deployment] = fields.ForeignKeyField(
        "models.Deployment", related_name="log_chunks", on_delete=fields.CASCADE, to_field="id"
    )
    first_cursor = fields.BigIntField()
    last_cursor = fields.BigIntField()
    kind = fields.CharField(max_length=8)
    data = fields.TextField()

    deployment_id: str

    class Meta:
        table = "log_chunks"
        unique_together = (("deployment_id", "first_cursor"),)


class Delivery(Model):
    """A webhook delivery that passed verification: what came, and what Capstan did with it.

    The raw body is never kept; `push` holds the parsed push (ref, commit, pusher, paths) so a
    delivery can be replayed.
    """

    id = fields.UUIDField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="deliveries", on_delete=fields.CASCADE
    )
    provider = fields.CharField(max_length=16)
    delivery_id = fields.CharField(max_length=128)
    event = fields.CharField(max_length=64)
    outcome = fields.CharEnumField(Outcome, max_length=16)
    reason = fields.TextField(null=True)
    status_code = fields.IntField()
    deployment_id = fields.UUIDField(null=True)
    push: dict[str, Any] | None = fields.JSONField(null=True)
    size = fields.IntField()
    received_at = fields.DatetimeField(auto_now_add=True)

    project_id: str

    class Meta:
        table = "deliveries"
        unique_together = (("project_id", "provider", "delivery_id"),)


class Secret(Model):
    """A project secret: AES-256-GCM ciphertext bound to project, name and key id."""

    id = fields.BigIntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="secrets", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=128)
    value = fields.TextField()
    key_id = fields.CharField(max_length=16)
    updated_at = fields.DatetimeField(auto_now=True)
    updated_by = fields.CharField(max_length=128)

    project_id: str

    class Meta:
        table = "secrets"
        unique_together = (("project_id", "name"),)


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16)
    disabled = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class Membership(Model):
    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="memberships", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(ProjectRole, max_length=16)

    project_id: str
    user_id: int

    class Meta:
        table = "memberships"
        unique_together = (("project_id", "user_id"),)


class ApiToken(Model):
    """An API token: only its SHA-256 and a short visible prefix are kept."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=128)
    prefix = fields.CharField(max_length=16)
    digest = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int

    class Meta:
        table = "api_tokens"


class WebSession(Model):
    """A browser session: the cookie holds a random id; only its SHA-256 is kept."""

    digest = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    seen_at = fields.DatetimeField()

    user_id: int

    class Meta:
        table = "web_sessions"


class AuditEvent(Model):
    """An append-only, hash-chained record: hash = SHA-256(previous hash || canonical row)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor = fields.CharField(max_length=128)
    actor_type = fields.CharField(max_length=16)
    token_id = fields.CharField(max_length=64, null=True)
    action = fields.CharField(max_length=64, db_index=True)
    project = fields.CharField(max_length=63, null=True, db_index=True)
    # The id of the project of that name when the event was recorded: a new project that
    # reuses a deleted one's name does not inherit its events.
    project_id = fields.UUIDField(null=True, db_index=True)
    target = fields.CharField(max_length=255, null=True)
    client = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=255, null=True)
    details: dict[str, Any] = fields.JSONField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_events"


class AuditHead(Model):
    """The chain's end, one row: appending locks it, so concurrent writers never fork."""

    id = fields.IntField(primary_key=True)
    last_hash = fields.CharField(max_length=64)
    count = fields.BigIntField(default=0)

    class Meta:
        table = "audit_head"


class NotifyProvider(Model):
    """Credentials for a notification service (an SMTP server, a Telegram bot, a signing key).
    `sealed` holds the secret fields as JSON, AES-256-GCM encrypted; never returned."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    kind = fields.CharEnumField(ProviderKind, max_length=16)
    settings: dict[str, Any] = fields.JSONField()
    sealed: str | None = fields.TextField(null=True)  # type: ignore[assignment]
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notify_providers"


class NotifyChannel(Model):
    """A destination under a provider: a Slack webhook, a chat, a list of addresses. A secret
    destination (a webhook URL carries its token) is sealed like the provider's credentials."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    provider: fields.ForeignKeyRelation[NotifyProvider] = fields.ForeignKeyField(
        "models.NotifyProvider", related_name="channels", on_delete=fields.CASCADE
    )
    target: dict[str, Any] = fields.JSONField()
    sealed: str | None = fields.TextField(null=True)  # type: ignore[assignment]
    timeout = fields.FloatField(default=10.0)
    # Failed or dropped deliveries in a row; at UNHEALTHY_AFTER the channel shows unhealthy.
    failures = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    provider_id: str

    class Meta:
        table = "notify_channels"


class NotifySubscription(Model):
    """Which events of which project (or of every project: `project` null) go to a channel."""

    id = fields.UUIDField(primary_key=True)
    channel: fields.ForeignKeyRelation[NotifyChannel] = fields.ForeignKeyField(
        "models.NotifyChannel", related_name="subscriptions", on_delete=fields.CASCADE
    )
    project: fields.ForeignKeyNullableRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="subscriptions", on_delete=fields.CASCADE, null=True
    )
    events: list[str] = fields.JSONField()
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    channel_id: str
    project_id: str | None

    class Meta:
        table = "notify_subscriptions"
        unique_together = (("channel_id", "project_id"),)


class NotifyDelivery(Model):
    """One event for one channel: its message (masked), attempts and outcome. `key` names the
    event, so the same event never makes a second delivery to a channel."""

    id = fields.UUIDField(primary_key=True)
    channel: fields.ForeignKeyRelation[NotifyChannel] = fields.ForeignKeyField(
        "models.NotifyChannel", related_name="deliveries", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=128)
    event = fields.CharField(max_length=32)
    project = fields.CharField(max_length=63, null=True)
    message: dict[str, Any] = fields.JSONField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16, db_index=True)
    attempts = fields.IntField(default=0)
    response_code = fields.IntField(null=True)
    reason = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    channel_id: str

    class Meta:
        table = "notify_deliveries"
        unique_together = (("key", "channel_id"),)


class Target(Model):
    """A server a project deploys to over SSH, with its own key pair (the private half sealed).
    Releases go under `path/releases`; `path/current` is switched once every target is ready."""

    id = fields.UUIDField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="targets", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=63)
    host = fields.CharField(max_length=255)
    port = fields.IntField(default=22)
    user = fields.CharField(max_length=64)
    path = fields.CharField(max_length=1024)
    labels: list[str] = fields.JSONField(default=list)
    key = fields.TextField(description="AES-256-GCM ciphertext, never plaintext")
    key_public = fields.TextField()
    current_release = fields.CharField(max_length=255, null=True)
    # The last health check: {"ok", "at", "detail"}.
    health: dict[str, Any] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    project_id: str

    class Meta:
        table = "targets"
        unique_together = (("project_id", "name"),)


class HostKey(Model):
    """An SSH host key met by a project's connections (git remotes and targets alike).
    Trusted keys are the pins: a host offering none of its trusted keys is refused. A key first
    seen is kept untrusted until someone accepts its fingerprint."""

    id = fields.BigIntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="host_keys", on_delete=fields.CASCADE
    )
    host = fields.CharField(max_length=255)
    port = fields.IntField()
    key = fields.TextField(description="OpenSSH public key: algorithm and base64")
    fingerprint = fields.CharField(max_length=64)
    trusted = fields.BooleanField(default=False)
    seen_at = fields.DatetimeField(auto_now_add=True)
    accepted_by = fields.CharField(max_length=128, null=True)
    accepted_at = fields.DatetimeField(null=True)

    project_id: str

    class Meta:
        table = "host_keys"
        unique_together = (("project_id", "host", "port", "fingerprint"),)
