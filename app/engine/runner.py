"""Runs deployments: the queue calls `advance`, which may run on any worker, any number of times.

`advance` does what the deployment needs next: start it if it heads its project's queue and
the project's slot is free, resume it if its lease is free or expired, or free the slot of a
finished one. While a `Runner` works it renews its lease; when the row moves on without it
(a cancel, a rollback, another worker), its next write fails, the stage's process group is
stopped and the runner steps away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from app.db.clients import settled
from app.domain import repos
from app.domain.masker import Masker
from app.domain.notify import EventKind
from app.domain.pipeline import MAX_INTERRUPTIONS, StageSpec, backoff, judge
from app.domain.status import TERMINAL, Kind, StageState, StageStatus, Status
from app.engine import process, pushes, releases, store
from app.engine.bundle import Engine
from app.engine.rollout import Rollout
from app.engine.store import LeaseLost, now, stamp
from app.keyring import secretstore, ssh
from app.keyring.vault import VaultError
from app.logs.bus import publish, publish_done
from app.logs.records import LogBatch
from app.logs.sink import LogSink
from app.models import Deployment, Project

log = logging.getLogger("capstan.runner")

Touch = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class End:
    """Why a run stops short of COMPLETED: the final status and its error, or (status None)
    parked at an approval gate, where no worker holds the deployment until someone approves."""

    status: Status | None
    error: str = ""


PARKED = End(None)


def failed(error: str) -> End:
    return End(Status.FAILED, error)


async def advance(engine: Engine, deployment_id: str, touch: Touch | None = None) -> None:
    """The queue job. Safe to run any number of times, on any worker, at any moment."""
    dep = await Deployment.get_or_none(id=deployment_id)
    if dep is None:
        return
    lease = engine.settings.lease_seconds
    if dep.status == Status.PENDING:
        head = await store.next_pending(dep.project_id)
        if head is None or head.id != dep.id or not await store.claim(dep, engine.holder, lease):
            return
        engine.metrics.start_latency.observe((now() - dep.created_at).total_seconds())
        await engine.notify(dep, EventKind.STARTED)
    elif dep.status == Status.IN_PROGRESS:
        if not await store.acquire(dep, engine.holder, lease):
            return
    else:
        await settle(engine, dep)
        return
    await Runner(engine, dep, touch).run()


async def settle(engine: Engine, dep: Deployment) -> None:
    """After a deployment ends and its processes are gone: free its slot, start the next."""
    if await store.release_slot(dep):
        await publish_done(engine.redis, dep)
        upcoming = await store.next_pending(dep.project_id)
        if upcoming is not None:
            await engine.enqueue(upcoming)


class Runner:
    def __init__(self, engine: Engine, dep: Deployment, touch: Touch | None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.dep = dep
        self.touch = touch
        self.lost = False
        self.write_lock = asyncio.Lock()
        self.stages: list[StageState] = [StageState(**s) for s in dep.stages]
        self.specs = [StageSpec.from_json(s) for s in dep.pipeline]
        self.masker = Masker()

    async def run(self) -> None:
        project = await Project.get(id=self.dep.project_id)
        self.project_dir = await asyncio.to_thread(
            releases.project_dir, self.settings.projects_dir, project.name, project.id
        )
        last, size = await store.log_position(str(self.dep.id))
        sink = LogSink(
            last_cursor=last,
            stored_bytes=size,
            max_bytes=self.settings.max_log_bytes,
            store=self._store_log,
            publish=self._publish_log,
            masker=self.masker,
        )
        task = asyncio.current_task()
        assert task is not None
        heartbeat = asyncio.create_task(self._heartbeat(task))
        try:
            async with sink:
                self.sink = sink
                end = await self._run(project)
                if end is not None and end.status is not None:
                    await settled(self._finish(end.status, end.error))
        except VaultError as exc:
            await settled(self._finish(Status.FAILED, f"a secret cannot be decrypted: {exc}"))
        except LeaseLost:
            self.lost = True
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A bug or a broken release dir must end the run, not re-run it forever.
            log.exception("deployment failed unexpectedly", extra={"deployment": str(self.dep.id)})
            await settled(self._finish(Status.FAILED, f"internal error: {exc}"))
        except asyncio.CancelledError:
            if not self.lost:
                await self._step_away()
                raise
            task.uncancel()
        finally:
            heartbeat.cancel()
        await self._settle()

    async def _run(self, project: Project) -> End | None:
        """The deployment's remaining steps, in order; None once it COMPLETED."""
        dep = self.dep
        await self._secrets()
        release_dir = await self._prepare_release(project)
        if isinstance(release_dir, End):
            return release_dir
        if dep.kind == Kind.ROLLBACK and dep.release:
            releases.activate(self.project_dir, dep.release)
            await self.sink.say(f"current -> {dep.release}")
        first = next((i for i, s in enumerate(self.specs) if s.on_targets), len(self.specs))
        for index in range(dep.stage_index, first):
            if (end := await self._stage(index, release_dir)) is not None:
                return end
        if (end := await self._targets(project, release_dir, first)) is not None:
            return end
        await self._complete(project)
        return None

    async def _targets(self, project: Project, release_dir: Path, first: int) -> End | None:
        """The target phase (`rollout`): the release on every target of the project, the
        stages from `first` on run there."""
        error = await Rollout(self, project, release_dir, first).run()
        return None if error is None else failed(error)

    async def _prepare_release(self, project: Project) -> Path | End:
        """Export the commit into the release directory. A webhook push is first checked in
        the fetched mirror (`pushes`); a stale one ends CANCELLED. A directory never made
        leaves the deployment without a `release`. A `repo_url` into the data dir, stored
        before such were refused, is refused here as well."""
        dep = self.dep
        assert dep.release is not None
        release_dir = self.project_dir / dep.release
        if release_dir.is_dir():
            return release_dir
        url = project.repo_url
        if url and repos.reads_from(url, self.settings.data_dir):
            reason = "repo_url points into Capstan's data directory"
            return await self._no_release(
                f"checkout refused: {reason}", failed(f"checkout failed: {reason}")
            )
        remote = repos.remote(url, await self._secrets()) if url else None
        if remote and remote.password:
            self.masker.add([remote.password])
        if dep.commit:
            await self.sink.say(f"checking out {dep.commit} into {dep.release}")
        scratch = ssh.scratch(self.settings.data_dir)
        access = releases.Access(project.id, project.deploy_key, self.engine.vault, scratch)
        source = releases.Source(remote, dep.commit, self.settings.base_env, access)
        vet = await pushes.vet(dep, project)
        try:
            await releases.prepare(self.project_dir, source, dep.release, self.sink.write, vet)
        except pushes.Stale as exc:
            return await settled(self._skip(str(exc)))
        except releases.GitError as exc:
            return await self._no_release(
                f"checkout failed: {exc}", failed(f"checkout failed: {exc}")
            )
        return release_dir

    async def _skip(self, reason: str) -> End:
        """A stale webhook push ends CANCELLED, its delivery recorded as ignored."""
        end = await self._no_release(reason, End(Status.CANCELLED, reason))
        await pushes.ignore_delivery(self.dep, reason)
        return end

    async def _no_release(self, message: str, end: End) -> End:
        await self.sink.say(message)
        await self._save(release=None)
        return end

    async def _stage(self, index: int, release_dir: Path) -> End | None:
        spec, state = self.specs[index], self.stages[index]
        if state["status"] == StageStatus.RUNNING and (
            end := await self._resume_interrupted(index)
        ):
            return end
        if spec.approval and not state.get("approved_by"):
            return await self._park(index)
        if spec.run is None:
            await self._set_stage(index, status=StageStatus.SUCCEEDED, finished_at=stamp())
            await self._save(stage_index=index + 1)
            return None
        if state["status"] == StageStatus.AWAITING_APPROVAL:
            state["attempt"] = 0
        return await self._run_attempts(index, spec, release_dir)

    async def _run_attempts(self, index: int, spec: StageSpec, release_dir: Path) -> End | None:
        assert spec.run is not None
        state = self.stages[index]
        while True:
            attempt = state["attempt"] + 1
            await self._set_stage(
                index,
                status=StageStatus.RUNNING,
                attempt=attempt,
                exit_code=None,
                started_at=stamp(),
                finished_at=None,
            )
            env = {**await self._secrets(), **self._stage_env(release_dir)}
            sandbox, cache = self.engine.sandbox, self.project_dir / "cache"
            started = time.monotonic()
            try:
                code: int | None = await process.run(
                    await sandbox.command(process.bash(spec.run), release_dir, cache),
                    cwd=release_dir,
                    env=env,
                    timeout=spec.timeout,
                    grace=self.settings.kill_grace_seconds,
                    on_output=self.sink.write,
                    sandboxed=sandbox.isolated,
                )
                error = f"exited with code {code}"
            except process.StageTimeout as exc:
                code, error = None, str(exc)
            verdict = judge(code, state.get("failures", 0), spec.retries)
            self.engine.metrics.stage_seconds.labels(verdict.status.value).observe(
                time.monotonic() - started
            )
            if verdict.retry_in is None:
                await self._set_stage(
                    index, status=verdict.status, exit_code=code, finished_at=stamp()
                )
                if verdict.status is StageStatus.FAILED:
                    return failed(f"stage {spec.name} {error}")
                await self._save(stage_index=index + 1)
                return None
            state["failures"], state["exit_code"] = verdict.failures, code
            await self._save(stages=self.stages)
            delay = verdict.retry_in
            await self.sink.say(f"stage {spec.name} {error}; attempt {attempt + 1} in {delay} s")
            await asyncio.sleep(delay)

    async def _resume_interrupted(self, index: int) -> End | None:
        """The stage was running when its worker died or stopped: run it again, or give up."""
        state = self.stages[index]
        grace = self.settings.kill_grace_seconds
        found = await asyncio.to_thread(process.kill_orphans, str(self.dep.id), grace)
        if found:
            await self.sink.say(f"stopped {found} leftover process group(s) of the lost attempt")
        if (error := await self._count_interruption(index)) is not None:
            return failed(error)
        delay = backoff(state["interruptions"])
        await self.sink.say(
            f"attempt {state['attempt']} of stage {self.specs[index].name} was interrupted; "
            f"running it again in {delay} s"
        )
        await asyncio.sleep(delay)
        return None

    async def _count_interruption(self, index: int) -> str | None:
        """One more interruption of the stage, saved; after MAX_INTERRUPTIONS the stage
        FAILED and why (here and on targets alike)."""
        state = self.stages[index]
        state["interruptions"] = state.get("interruptions", 0) + 1
        if state["interruptions"] >= MAX_INTERRUPTIONS:
            await self._set_stage(index, status=StageStatus.FAILED, finished_at=stamp())
            name = self.specs[index].name
            return f"stage {name} was interrupted {state['interruptions']} times; giving up"
        await self._save(stages=self.stages)
        return None

    async def _park(self, index: int) -> End:
        state = self.stages[index]
        if state["status"] != StageStatus.AWAITING_APPROVAL:
            await self._set_stage(
                index, status=StageStatus.AWAITING_APPROVAL, attempt=1, started_at=stamp()
            )
        await self.sink.flush()
        await self._save(stage_index=index, lease_holder=None, lease_expires=None)
        await self.engine.notify(self.dep, EventKind.AWAITING_APPROVAL)
        return PARKED

    async def _complete(self, project: Project) -> None:
        dep = self.dep
        assert dep.release is not None
        releases.activate(self.project_dir, dep.release)
        # Old releases go before the row says COMPLETED (whoever reads it sees them gone),
        # in a thread: removing a tree can take a while.
        removed = await asyncio.to_thread(
            releases.prune, self.project_dir, project.keep_releases, {dep.release}
        )
        if removed:
            log.info("pruned releases", extra={"project": project.name, "removed": removed})
        await self.sink.flush()
        async with self.write_lock:
            await settled(store.complete(dep))
        self.engine.metrics.finished.labels(Status.COMPLETED).inc()
        await self.engine.report(dep)

    async def _secrets(self) -> dict[str, str]:
        """The project's secrets as of now, decrypted for a stage's environment. Every value
        seen during the run stays masked, even after it changes or is deleted: the row keeps
        them (encrypted) for whichever worker resumes the run. A `VaultError` fails the run."""
        vault, purpose = self.engine.vault, f"seen:{self.dep.id}"
        secrets = await secretstore.values(vault, self.dep.project_id)
        sealed = self.dep.seen_secrets
        seen = set(json.loads(vault.decrypt(sealed, purpose))) if sealed else set()
        self.masker.add(seen | set(secrets.values()))
        if not seen.issuperset(secrets.values()):
            sealed = vault.encrypt(json.dumps(sorted(seen | set(secrets.values()))), purpose)
            await self._save(seen_secrets=sealed)
        return secrets

    async def _finish(self, status: Status, error: str) -> None:
        error = self.masker.mask(error)
        for state in self.stages:
            if state["status"] == StageStatus.PENDING:
                state["status"] = StageStatus.SKIPPED
        with contextlib.suppress(LeaseLost):
            await self.sink.flush()
            await self._save(status=status, error=error, finished_at=now(), stages=self.stages)
            self.engine.metrics.finished.labels(status.value).inc()
            await self.engine.report(self.dep)

    async def _step_away(self) -> None:
        """Server shutdown: give the lease back so any worker resumes at once."""
        with contextlib.suppress(Exception):
            await self._save(lease_holder=None, lease_expires=None)

    async def _settle(self) -> None:
        fresh = await Deployment.get_or_none(id=self.dep.id)
        if fresh is not None and fresh.status in TERMINAL:
            await settle(self.engine, fresh)

    async def _set_stage(self, index: int, status: StageStatus, **fields: Any) -> None:
        state = self.stages[index]
        state.update(cast(StageState, {"status": status, **fields}))
        await self._save(stages=self.stages, stage_index=index)
        await self.sink.stage(state["name"], status.value, state["attempt"])

    async def _save(self, **changes: Any) -> None:
        async with self.write_lock:
            await store.save(self.dep, **changes)

    async def _store_log(self, batch: LogBatch) -> None:
        async with self.write_lock:
            await store.append_log(self.dep, batch)

    async def _publish_log(self, batch: LogBatch) -> None:
        await publish(self.engine.redis, str(self.dep.id), batch)

    async def _heartbeat(self, main: asyncio.Task[None]) -> None:
        """Renew the lease (and SAQ's job heartbeat); on loss, stop the main task."""
        while True:
            await asyncio.sleep(min(1.0, self.settings.lease_seconds / 5))
            try:
                async with self.write_lock:
                    if self.dep.lease_holder is None:
                        return
                    await store.renew(self.dep, self.settings.lease_seconds)
                if self.touch:
                    await self.touch()
            except LeaseLost:
                self.lost = True
                main.cancel()
                return
            except Exception as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})

    def _deployment_env(self) -> dict[str, str]:
        """What a stage is told of its deployment, on the Capstan host or on a target."""
        dep = self.dep
        return {
            "CAPSTAN_PROJECT": self.project_dir.name,
            "CAPSTAN_DEPLOYMENT_ID": str(dep.id),
            "CAPSTAN_SEQ": str(dep.seq),
            "CAPSTAN_REF": dep.ref or "",
            "CAPSTAN_COMMIT": dep.commit or "",
            "CAPSTAN_VERSION": dep.version or "",
        }

    def _stage_env(self, release_dir: Path) -> dict[str, str]:
        env = {**self.settings.base_env, **self._deployment_env()}
        env.update(
            CAPSTAN_RELEASE_DIR=str(release_dir.resolve()),
            CAPSTAN_CURRENT_DIR=str((self.project_dir / "current").absolute()),
            CAPSTAN_CACHE_DIR=str(self.project_dir / "cache"),
        )
        if self.engine.sandbox.isolated:
            env.update(HOME=env["CAPSTAN_CACHE_DIR"], TMPDIR="/tmp")
        return env
