"""From a deployment's change to a message in each subscribed channel.

`event_for` describes what happened (masked: log lines come from the stored, masked log);
`emit` writes one `NotifyDelivery` row per subscribed channel (the same event twice makes no
second row) and the queue sends each in its own job, `deliver`, retried with backoff on
timeouts and 5xx, dropped on 4xx. Channels are independent: a slow or dead one delays nobody.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from app.domain.access import PRIVILEGED, ProjectRole
from app.domain.notify import (
    DELIVERY_DONE,
    MAX_ATTEMPTS,
    SYSTEM_EVENTS,
    DeliveryStatus,
    Event,
    EventKind,
)
from app.domain.status import Kind, Status
from app.keyring.vault import Vault, VaultError
from app.models import (
    Deployment,
    LogChunk,
    Membership,
    NotifyChannel,
    NotifyDelivery,
    NotifySubscription,
    Project,
    User,
)
from app.notify import config
from app.settings import Settings

log = logging.getLogger("capstan.notify")

LAST_LINES = 20
STATUS_EVENTS = {
    Status.PENDING: EventKind.QUEUED,
    Status.IN_PROGRESS: EventKind.STARTED,
    Status.COMPLETED: EventKind.SUCCEEDED,
    Status.FAILED: EventKind.FAILED,
    Status.CANCELLED: EventKind.CANCELLED,
    Status.ROLLED_BACK: EventKind.ROLLED_BACK,
}


RETRY = "retry"  # what `deliver` returns when the delivery should be tried again


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt: doubling from CAPSTAN_NOTIFY_RETRY_SECONDS."""
    return float(settings.notify_retry_seconds * 2 ** max(attempts - 1, 0))


def kind_for(dep: Deployment) -> EventKind:
    """The event a deployment's status is: a project rollback that completes is `rolled_back`."""
    if dep.status == Status.COMPLETED and dep.kind == Kind.ROLLBACK:
        return EventKind.ROLLED_BACK
    return STATUS_EVENTS[Status(dep.status)]


async def event_for(dep: Deployment, kind: EventKind, base_url: str) -> Event:
    project = await Project.get(id=dep.project_id)
    verb = kind.value.replace("_", " ")
    facts = {"deployment": f"#{dep.seq}", "kind": str(dep.kind)}
    if dep.ref:
        facts["ref"] = dep.ref
    if dep.commit:
        facts["commit"] = dep.commit[:12]
    if dep.version:
        facts["version"] = dep.version
    if by := dep.trigger.get("by"):
        facts["by"] = str(by)
    lines: list[str] = []
    stage = dep.stages[dep.stage_index]["name"] if dep.stage_index < len(dep.stages) else None
    key = f"{dep.id}:{kind}"
    if kind is EventKind.FAILED:
        if stage:
            facts["stage"] = stage
        if dep.error:
            facts["error"] = dep.error
        lines = await last_lines(str(dep.id))
    elif kind is EventKind.AWAITING_APPROVAL:
        facts["gate"] = stage or "?"
        facts["may approve"] = ", ".join(await approvers(project)) or "an admin"
        key = f"{dep.id}:{kind}:{dep.stage_index}"
    return Event(
        kind=kind,
        key=key,
        title=f"{project.name} #{dep.seq} {verb}",
        project=project.name,
        project_id=str(project.id),
        url=f"{base_url}/deployments/{dep.id}",
        facts=facts,
        lines=lines,
    )


async def last_lines(deployment_id: str, count: int = LAST_LINES) -> list[str]:
    """The stored (masked) log's last `count` lines."""
    lines: list[str] = []
    chunks = LogChunk.filter(deployment_id=deployment_id, kind="lines").order_by("-last_cursor")
    for chunk in await chunks.limit(count):
        lines[:0] = chunk.data.split("\n")
        if len(lines) >= count:
            break
    return lines[-count:]


async def approvers(project: Project) -> list[str]:
    """Who may open the gate: admins, managers, the owners (and members, when allowed)."""
    roles = (
        [ProjectRole.OWNER, ProjectRole.MEMBER]
        if project.members_can_approve
        else [ProjectRole.OWNER]
    )
    names = set(
        await User.filter(role__in=list(PRIVILEGED), disabled=False).values_list(
            "username", flat=True
        )
    )
    members = Membership.filter(project_id=project.id, role__in=roles, user__disabled=False)
    names |= set(await members.values_list("user__username", flat=True))
    return sorted(str(name) for name in names)


async def emit(event: Event) -> list[NotifyDelivery]:
    """One pending delivery per channel subscribed to `event`; none for a channel that
    already has this event. Returns the new ones, for the queue to send."""
    subscribed = NotifySubscription.filter(Q(project_id=None) | Q(project_id=event.project_id))
    if event.kind in SYSTEM_EVENTS or event.project_id is None:
        subscribed = NotifySubscription.filter(project_id=None)
    channels = {s.channel_id for s in await subscribed if event.kind in s.events}
    created = []
    for channel_id in sorted(map(str, channels)):
        try:
            created.append(
                await NotifyDelivery.create(
                    channel_id=channel_id,
                    key=event.key[:128],
                    event=event.kind.value,
                    project=event.project,
                    message=event.as_json(),
                    status=DeliveryStatus.PENDING,
                )
            )
        except IntegrityError:
            continue  # this event is already on its way to this channel
    return created


def event_of(delivery: NotifyDelivery) -> Event:
    message: dict[str, Any] = delivery.message
    return Event(
        kind=EventKind(message["kind"]),
        key=delivery.key,
        title=str(message.get("title", "")),
        project=message.get("project"),
        url=message.get("url"),
        facts=dict(message.get("facts") or {}),
        lines=list(message.get("lines") or []),
    )


async def deliver(settings: Settings, vault: Vault, delivery_id: str) -> str:
    """The queue job: one attempt at one delivery; its new status, or `RETRY`."""
    delivery = (
        await NotifyDelivery.filter(id=delivery_id).select_related("channel__provider").first()
    )
    if delivery is None or delivery.status in DELIVERY_DONE:
        return "nothing to do"
    from app.notify.send import Outcome, send

    channel = delivery.channel
    provider = channel.provider
    try:
        provider_fields = {**provider.settings, **config.unseal(vault, provider)}
        channel_fields = {**channel.target, **config.unseal(vault, channel)}
    except VaultError as exc:
        outcome = Outcome(None, False, f"the channel's secrets cannot be decrypted: {exc}")
    else:
        attempts = delivery.attempts + 1
        await NotifyDelivery.filter(id=delivery.id).update(attempts=attempts)
        delivery.attempts = attempts
        outcome = await send(
            provider.kind,
            provider_fields,
            channel_fields,
            event_of(delivery),
            timeout=channel.timeout,
            allow_private=settings.notify_allow_private,
            delivery_id=str(delivery.id),
        )
    return await record(delivery, outcome)


async def record(delivery: NotifyDelivery, outcome: Any) -> str:
    """Write what an attempt did; `RETRY` while attempts remain for a retryable one."""
    done = outcome.sent or not outcome.retry or delivery.attempts >= MAX_ATTEMPTS
    status = (DeliveryStatus.SENT if outcome.sent else DeliveryStatus.PENDING if not done
              else DeliveryStatus.FAILED if outcome.retry else DeliveryStatus.DROPPED)  # fmt: skip
    await NotifyDelivery.filter(id=delivery.id).update(
        status=status,
        response_code=outcome.code,
        reason=outcome.reason,
        finished_at=None if status is DeliveryStatus.PENDING else dt.datetime.now(dt.UTC),
    )
    channel = NotifyChannel.filter(id=delivery.channel_id)
    if outcome.sent:
        await channel.update(failures=0, last_error=None)
    elif done:
        await channel.update(failures=F("failures") + 1, last_error=outcome.reason)
    log.info(
        "notification attempt",
        extra={"delivery": str(delivery.id), "status": status.value, "code": outcome.code,
               "attempt": delivery.attempts, "reason": outcome.reason},
    )  # fmt: skip
    return status.value if done else RETRY
