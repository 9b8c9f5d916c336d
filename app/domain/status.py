"""Deployment and stage statuses, and the transitions allowed between them."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ROLLED_BACK = "ROLLED_BACK"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.ROLLED_BACK})
ACTIVE = frozenset({Status.PENDING, Status.IN_PROGRESS})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.IN_PROGRESS, Status.CANCELLED}),
    Status.IN_PROGRESS: TERMINAL,
    **{status: frozenset() for status in TERMINAL},
}


def can_transition(current: Status, new: Status) -> bool:
    """Whether a deployment in `current` may move to `new`. Terminal states never change."""
    return new in TRANSITIONS[current]


class StageStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


STAGE_DONE = frozenset(
    {StageStatus.SUCCEEDED, StageStatus.FAILED, StageStatus.CANCELLED, StageStatus.SKIPPED}
)


class Kind(enum.StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    REDEPLOY = "redeploy"


class TriggerType(enum.StrEnum):
    API = "api"
    WEBHOOK = "webhook"
    CLI = "cli"
    UI = "ui"
    ROLLBACK = "rollback"


class Concurrency(enum.StrEnum):
    QUEUE = "queue"
    REJECT = "reject"
    SUPERSEDE = "supersede"


class Outcome(enum.StrEnum):
    """What became of a webhook delivery."""

    DEPLOYED = "deployed"
    IGNORED = "ignored"
    PING = "ping"
    FAILED = "failed"  # answered 503: the sender retries
    REFUSED = "refused"  # `concurrency: reject` while a deployment was active
    BAD_PAYLOAD = "bad_payload"  # signed, but the body could not be read (400)


# A delivery id seen again runs again after these; after any other it is a duplicate.
REDELIVERABLE = frozenset({Outcome.FAILED, Outcome.REFUSED, Outcome.BAD_PAYLOAD})
