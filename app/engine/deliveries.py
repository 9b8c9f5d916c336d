"""Verified webhook deliveries: recorded once, acted on once.

A delivery's id (per project and provider) is unique in the database. The record and the
deployment it starts are written in one transaction, so a delivery seen again is a duplicate
(200, no second deployment) unless it did not get to deploy for a passing reason: its
processing failed (503), `concurrency: reject` refused it while a deployment was active (202),
or its body could not be read (400). Then the redelivery runs it.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.accounts import audit
from app.domain.notify import Event, EventKind
from app.domain.status import REDELIVERABLE, Kind, Outcome, TriggerType
from app.engine.actions import NewDeployment, Submitted, announce, insert, lock_project, submit
from app.engine.bundle import Engine
from app.errors import AppError, Conflict, Unavailable
from app.forges.push import ANSWERED, Push, decide
from app.models import Delivery, Deployment, Project


@dataclasses.dataclass(frozen=True)
class Receipt:
    """What became of a delivery: its outcome, the deployment it started (or, for a duplicate,
    the one its first delivery started), and why it started none."""

    outcome: Outcome
    deployment: str | None = None
    reason: str | None = None
    duplicate: bool = False


async def receive(
    engine: Engine, project: Project, push: Push, size: int, client: str | None = None
) -> Receipt:
    """Act on a verified delivery and record what happened (and audit what it started)."""
    submitted: Submitted | None = None
    try:
        async with in_transaction():
            await lock_project(project)
            previous = await _previous(project, push)
            if previous is not None and previous.outcome not in REDELIVERABLE:
                return _duplicate(previous)
            if previous is not None:
                await previous.delete()
            source = _source(push)
            if source is not None and source != project.source:
                await Project.filter(id=project.id).update(source=source)
            receipt, submitted = await _act(engine, project, push, source)
            await _record(project, push, size, receipt.outcome, receipt.reason, submitted)
            if submitted is not None:
                actor = audit.Actor(f"webhook:{push.delivery_id}", "webhook", client=client)
                details = {"provider": push.provider, "commit": push.commit}
                target = str(submitted.deployment.id)
                await audit.record(actor, "deployment.trigger", project=project.name,
                                   target=target, details=details)  # fmt: skip
    except IntegrityError:
        return await _duplicate_of(project, push)
    except AppError as exc:
        if isinstance(exc, Conflict):  # `concurrency: reject`: a redelivery runs it once idle
            reason = f"{exc.message}; redeliver to deploy"
            if await _record_undeployed(project, push, size, Outcome.REFUSED, reason):
                await engine.tell(refused_event(engine, project, push, reason))
                return Receipt(Outcome.REFUSED, reason=reason)
            return await _duplicate_of(project, push)
        # 503 asks the sender to try again; a 4xx would make GitLab disable the hook.
        await _record_undeployed(project, push, size, Outcome.FAILED, exc.message)
        raise Unavailable(exc.message, code=exc.code) from None
    if submitted is not None:
        await announce(engine, submitted)
    return receipt


def refused_event(engine: Engine, project: Project, push: Push, reason: str) -> Event:
    facts = {"forge": push.provider, "delivery": push.delivery_id, "reason": reason}
    if push.ref:
        facts["ref"] = push.ref
    if push.commit:
        facts["commit"] = push.commit[:12]
    if push.pusher:
        facts["pushed by"] = push.pusher
    return Event(
        kind=EventKind.DELIVERY_REFUSED,
        key=f"refused:{project.id}:{push.provider}:{push.delivery_id}",
        title=f"{project.name}: a push was refused",
        project=project.name,
        project_id=str(project.id),
        url=f"{engine.settings.base_url}/projects/{project.name}/webhooks",
        facts=facts,
    )


async def record_unreadable(project: Project, push: Push, size: int, reason: str) -> None:
    """Record a signed delivery whose body could not be read (answered 400), never its body;
    unless its id already stands for a delivery that was acted on."""
    await _record_undeployed(project, push, size, Outcome.BAD_PAYLOAD, reason)


async def replay(engine: Engine, project: Project, delivery: Delivery, by: str) -> Deployment:
    """Deploy a recorded push again, as a new deployment."""
    if not delivery.push:
        raise Conflict("this delivery carried no push", code="not_deployable")
    push = Push.from_json(delivery.push)
    decision = decide(push, project.branch, project.deploy_tags, project.paths)
    if decision.ref is None:
        raise Conflict(decision.reason or "the push does not deploy", code="not_deployable")
    trigger = _trigger(push, by=by) | {"replay": True}
    new = NewDeployment(
        Kind.DEPLOY, trigger, ref=decision.ref, commit=push.commit, report=_source(push)
    )
    return await submit(engine, project, new)


async def _act(
    engine: Engine, project: Project, push: Push, source: dict[str, str] | None
) -> tuple[Receipt, Submitted | None]:
    if push.event == "ping":
        return Receipt(Outcome.PING), None
    decision = decide(push, project.branch, project.deploy_tags, project.paths)
    if decision.ref is None:
        return Receipt(Outcome.IGNORED, reason=decision.reason), None
    new = NewDeployment(
        Kind.DEPLOY, _trigger(push), ref=decision.ref, commit=push.commit, report=source
    )
    submitted = await insert(engine, project, new)
    return Receipt(Outcome.DEPLOYED, deployment=str(submitted.deployment.id)), submitted


async def _record(
    project: Project,
    push: Push,
    size: int,
    outcome: Outcome,
    reason: str | None,
    submitted: Submitted | None = None,
) -> None:
    await Delivery.create(
        id=uuid.uuid4(),
        project_id=project.id,
        provider=push.provider,
        delivery_id=push.delivery_id,
        event=push.event,
        outcome=outcome.value,
        reason=reason,
        status_code=ANSWERED[outcome],
        deployment_id=submitted.deployment.id if submitted else None,
        push=push.to_json() if push.event == "push" else None,
        size=size,
    )


async def _record_undeployed(
    project: Project, push: Push, size: int, outcome: Outcome, reason: str
) -> bool:
    """Record a delivery that started nothing, in place of an earlier redeliverable record of
    its id. False when its id stands for one that was acted on meanwhile."""
    try:
        async with in_transaction():
            await Delivery.filter(
                project_id=project.id,
                provider=push.provider,
                delivery_id=push.delivery_id,
                outcome__in=REDELIVERABLE,
            ).delete()
            await _record(project, push, size, outcome, reason)
    except IntegrityError:
        return False
    return True


async def _duplicate_of(project: Project, push: Push) -> Receipt:
    previous = await _previous(project, push)
    return _duplicate(previous) if previous else Receipt(Outcome.IGNORED, duplicate=True)


async def _previous(project: Project, push: Push) -> Delivery | None:
    return await Delivery.get_or_none(
        project_id=project.id, provider=push.provider, delivery_id=push.delivery_id
    )


def _duplicate(previous: Delivery) -> Receipt:
    deployment = str(previous.deployment_id) if previous.deployment_id else None
    return Receipt(Outcome(previous.outcome), deployment=deployment, duplicate=True)


def _trigger(push: Push, by: str | None = None) -> dict[str, Any]:
    return {
        "type": TriggerType.WEBHOOK,
        "by": by or push.pusher or push.provider,
        "delivery": push.delivery_id,
    }


def _source(push: Push) -> dict[str, str] | None:
    if push.event != "push" or not push.repository:
        return None
    source = {"provider": push.provider, "repository": push.repository}
    if push.api:
        source["api"] = push.api
    return source
