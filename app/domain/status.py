"""Deployment and stage statuses, and the transitions allowed between them."""

from __future__ import annotations

import enum
from typing import TypedDict


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
STAGE_STOPPABLE = frozenset({StageStatus.RUNNING, StageStatus.AWAITING_APPROVAL})


class StageState(TypedDict, total=False):
    """A stage of a deployment, as stored in `Deployment.stages` (JSON)."""

    name: str
    status: str  # a StageStatus
    attempt: int
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    failures: int  # failed attempts so far (retries)
    interruptions: int  # attempts lost to a crash or a shutdown
    approved_by: str
    approved_at: str


def awaits_approval(stage: StageState | None) -> bool:
    """Whether the stage is a gate nobody has opened yet."""
    return bool(
        stage
        and stage.get("status") == StageStatus.AWAITING_APPROVAL
        and not stage.get("approved_by")
    )


class Kind(enum.StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


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


class Strategy(enum.StrEnum):
    """How a deployment reaches a project's targets: every host together, or a few at a time."""

    ALL = "all"
    ROLLING = "rolling"


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
