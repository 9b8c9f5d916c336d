"""What people (and webhooks) do to deployments: trigger, approve, cancel, roll back.

Each action writes the database first and enqueues second; a failed enqueue leaves the row for
the reconciler, so an accepted trigger is never lost.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.domain import repos
from app.domain.pipeline import validate_ref
from app.domain.status import (
    STAGE_STOPPABLE,
    TERMINAL,
    Concurrency,
    Kind,
    StageStatus,
    Status,
    awaits_approval,
)
from app.engine import releases
from app.engine.bundle import Engine
from app.engine.runner import settle
from app.engine.store import LeaseLost, now, save, stamp
from app.errors import Conflict, Invalid, Throttled, Unavailable
from app.keyring import secretstore, ssh
from app.logs.bus import publish_done
from app.models import Deployment, Project

SAVE_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class NewDeployment:
    kind: Kind
    trigger: dict[str, Any]
    ref: str | None = None
    commit: str | None = None
    version: str | None = None
    release: str | None = None
    rollback_to: uuid.UUID | None = None
    pipeline: list[dict[str, Any]] | None = None
    report: dict[str, str] | None = None


def initial_stages(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": spec["name"],
            "status": StageStatus.PENDING,
            "attempt": 0,
            "exit_code": None,
            "started_at": None,
            "finished_at": None,
        }
        for spec in pipeline
    ]


async def deploy(
    engine: Engine,
    project: Project,
    trigger: dict[str, Any],
    ref: str | None = None,
    version: str | None = None,
    commit: str | None = None,
) -> Deployment:
    """Trigger a deployment of `ref` (default: the project's branch) at its current commit."""
    ref = validate_ref(ref) if ref is not None else project.branch
    if version is not None and (not isinstance(version, str) or len(version) > 255):
        raise Invalid("version must be a string of at most 255 characters", field="version")
    if project.repo_url and commit is None:
        remote = await git_remote(engine, project.id, project.repo_url)
        scratch = ssh.scratch(engine.settings.data_dir)
        access = releases.Access(project.id, project.deploy_key, engine.vault, scratch)
        try:
            commit = await releases.resolve_ref(remote, ref, engine.settings.base_env, 30.0, access)
        except LookupError:
            shown = repos.redact(project.repo_url)
            raise Invalid(f"ref {ref!r} not found in {shown}", field="ref") from None
        except releases.HostKeyRefused as exc:
            raise Conflict(str(exc), code="host_key_not_trusted") from None
        except releases.GitError as exc:
            raise Unavailable(f"git remote unavailable: {exc}", code="repo_unavailable") from None
    new = NewDeployment(Kind.DEPLOY, trigger, ref=ref, commit=commit, version=version)
    return await submit(engine, project, new)


async def git_remote(engine: Engine, project_id: object, url: str) -> repos.Remote:
    """The project's repository as git is given it: credentials apart, from the URL or from
    the GIT_USERNAME and GIT_PASSWORD secrets. A path into the data dir is refused."""
    if repos.reads_from(url, engine.settings.data_dir):
        raise Invalid("repo_url points into Capstan's data directory", field="repo_url")
    secrets = {}
    for name in (repos.PASSWORD_SECRET, repos.USERNAME_SECRET):
        value = await secretstore.value(engine.vault, project_id, name)
        if value is not None:
            secrets[name] = value
    return repos.remote(url, secrets)


async def lock_project(project: Project) -> None:
    """Lock the project row (PostgreSQL) or the database (SQLite) for this transaction, so
    concurrent triggers of a project take turns. A transaction's first statement must be a
    write: an SQLite transaction that reads first cannot wait for another process's lock."""
    await Project.filter(id=project.id).update(keep_releases=F("keep_releases"))


@dataclasses.dataclass
class Submitted:
    """A stored deployment, and the waiting ones it superseded, to announce after commit."""

    deployment: Deployment
    superseded: list[Deployment]


async def submit(engine: Engine, project: Project, new: NewDeployment) -> Deployment:
    """Store a PENDING deployment under the project's concurrency policy, then enqueue it."""
    async with in_transaction():
        submitted = await insert(engine, project, new)
    await announce(engine, submitted)
    return submitted.deployment


async def insert(engine: Engine, project: Project, new: NewDeployment) -> Submitted:
    """Store a PENDING deployment; call inside a transaction, then `announce` after commit."""
    pipeline = new.pipeline if new.pipeline is not None else project.stages
    superseded: list[Deployment] = []
    await lock_project(project)
    pending = Deployment.filter(project_id=project.id, status=Status.PENDING)
    waiting = await pending.count()
    if waiting >= engine.settings.max_pending:
        raise Throttled(
            f"{waiting} deployments already wait in {project.name}",
            code="backlog_full",
            retry_after=30,
        )
    policy = Concurrency(project.concurrency)
    if policy is Concurrency.REJECT and (
        waiting or await Deployment.filter(project_id=project.id, active_slot=project.id).exists()
    ):
        raise Conflict(f"a deployment of {project.name} is active", code="deployment_active")
    dep = await Deployment.create(
        id=uuid.uuid4(),
        project_id=project.id,
        kind=new.kind.value,
        status=Status.PENDING,
        ref=new.ref,
        commit=new.commit,
        version=new.version,
        pipeline=pipeline,
        stages=initial_stages(pipeline),
        trigger=new.trigger,
        release=new.release,
        rollback_to=new.rollback_to,
        report=new.report if new.report is not None else project.source,
    )
    if policy is Concurrency.SUPERSEDE:
        for old in await pending.exclude(id=dep.id):
            await _end(old, Status.CANCELLED, f"superseded by deployment {dep.seq}")
            superseded.append(old)
    return Submitted(dep, superseded)


async def announce(engine: Engine, submitted: Submitted) -> None:
    """After commit: wake the superseded deployments' log readers, enqueue, report."""
    for old in submitted.superseded:
        await publish_done(engine.redis, old)
        await engine.report(old)
    await engine.enqueue(submitted.deployment)
    await engine.report(submitted.deployment)


async def approve(engine: Engine, dep: Deployment, by: str) -> Deployment:
    for _ in range(SAVE_ATTEMPTS):
        stage = dep.stages[dep.stage_index] if dep.stage_index < len(dep.stages) else None
        if dep.status != Status.IN_PROGRESS or not awaits_approval(stage):
            raise Conflict("the deployment is not awaiting approval", code="not_awaiting_approval")
        stages = [dict(s) for s in dep.stages]
        stages[dep.stage_index].update(approved_by=by, approved_at=stamp())
        try:
            await save(dep, stages=stages)
        except LeaseLost:
            dep = await Deployment.get(id=dep.id)
            continue
        await engine.enqueue(dep)
        return dep
    raise Conflict("the deployment is changing; try again", code="busy")


async def stop(engine: Engine, dep: Deployment, status: Status, by: str) -> Deployment:
    """Cancel (PENDING or IN_PROGRESS) or roll back (IN_PROGRESS) a deployment.

    The status is final at once. A live runner notices within a second, stops the stage's
    process group and frees the project; without one, the project is freed here.
    """
    verb = "cancelled" if status is Status.CANCELLED else "rolled back"
    for _ in range(SAVE_ATTEMPTS):
        if dep.status in TERMINAL:
            raise Conflict(f"the deployment is already {dep.status}", code="already_finished")
        if status is Status.ROLLED_BACK and dep.status != Status.IN_PROGRESS:
            raise Conflict(
                "only an IN_PROGRESS deployment can be rolled back", code="not_in_progress"
            )
        try:
            await _end(dep, status, f"{verb} by {by}")
        except LeaseLost:
            dep = await Deployment.get(id=dep.id)
            continue
        await publish_done(engine.redis, dep)
        await engine.report(dep)
        if dep.lease_holder is None or (dep.lease_expires and dep.lease_expires < now()):
            await settle(engine, dep)
        return dep
    raise Conflict("the deployment is changing; try again", code="busy")


async def _end(dep: Deployment, status: Status, error: str) -> None:
    stages = [dict(s) for s in dep.stages]
    for stage in stages:
        if stage["status"] in STAGE_STOPPABLE:
            stage.update(status=StageStatus.CANCELLED, finished_at=stamp())
        elif stage["status"] == StageStatus.PENDING:
            stage["status"] = StageStatus.SKIPPED
    await save(dep, status=status, error=error, finished_at=now(), stages=stages)


async def rollback_project(
    engine: Engine, project: Project, trigger: dict[str, Any], to: str | None
) -> Deployment:
    """Re-activate an earlier COMPLETED release (default: the one before `current`)."""
    target = await _rollback_target(project, to)
    project_dir = engine.settings.projects_dir / project.name
    if not target.release or not (project_dir / target.release).is_dir():
        raise Conflict(f"release {target.release} was pruned", code="release_missing")
    pipeline = []
    if project.on_rollback:
        pipeline = [
            {"name": "on_rollback", "run": project.on_rollback, "timeout": 3600, "retries": 0}
        ]
    new = NewDeployment(
        Kind.ROLLBACK,
        trigger,
        ref=target.ref,
        commit=target.commit,
        version=target.version,
        release=target.release,
        rollback_to=target.id,
        pipeline=pipeline,
    )
    return await submit(engine, project, new)


async def _rollback_target(project: Project, to: str | None) -> Deployment:
    completed = Deployment.filter(project_id=project.id, status=Status.COMPLETED)
    if to is not None:
        try:
            target_id = uuid.UUID(str(to))
        except ValueError:
            raise Invalid("to must be a deployment id", field="to") from None
        target = await completed.filter(id=target_id).first()
        if target is None:
            raise Invalid("to must name a COMPLETED deployment of this project", field="to")
        return target
    current = None
    if project.current_deployment_id:
        current = await Deployment.get_or_none(id=project.current_deployment_id)
    if current is None or not current.release:
        raise Conflict("nothing has been deployed yet", code="no_rollback_target")
    built = await completed.filter(release=current.release).order_by("seq").first()
    before = built.seq if built else current.seq
    target = (
        await completed.filter(seq__lt=before, kind=Kind.DEPLOY)
        .exclude(release=current.release)
        .order_by("-seq")
        .first()
    )
    if target is None:
        raise Conflict("no earlier completed release to roll back to", code="no_rollback_target")
    return target
