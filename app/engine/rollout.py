"""A deployment's target phase: after the stages on the Capstan host, the release goes to every
target of the project over SSH.

Strategy `all`: ship to every host and run the stages `on: targets` there (hosts at once),
then switch `current` on every host, then check their health. Strategy `rolling`: the same,
`batch_size` hosts at a time, one batch after another. A failure before any switch leaves
every host as it was; a failure after one (a health check, a later batch, a host a resumed
run cannot reach, an internal error) switches every host that moved, and that Capstan is
connected to, back to its previous release and runs the project's `on_rollback` there.

Each host's progress (`Deployment.targets`: name, status, previous release, release) is saved
as it moves on, so a worker resuming the run knows what to finish or to roll back; a host's
`Target.current_release` is written at each switch. A cancel stops the run where it is: a
host already switched stays on the new release (no rollback; roll back with a rollback
deployment), and its `current_release` says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from app.db.clients import settled
from app.domain.pipeline import judge
from app.domain.status import Kind, StageStatus, Strategy
from app.engine import health, targets
from app.engine.process import StageTimeout
from app.engine.store import LeaseLost, stamp
from app.engine.targets import Host, TargetError
from app.keyring import ssh
from app.keyring.ssh import HostKeyError
from app.keyring.vault import VaultError
from app.models import Project, Target

if TYPE_CHECKING:
    from app.engine.runner import Runner

T = TypeVar("T")

log = logging.getLogger("capstan.rollout")

PENDING, SHIPPED, READY = "pending", "shipped", "ready"
SWITCHED, HEALTHY, FAILED, ROLLED_BACK = "switched", "healthy", "failed", "rolled_back"
MOVED = frozenset({SWITCHED, HEALTHY})  # `current` points at the new release
ROLLBACK_TIMEOUT = 3600


async def each(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Await the coroutines together; the first unexpected error cancels the rest and is
    raised as itself (not as a group)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as exc:
        raise exc.exceptions[0] from None
    return [task.result() for task in tasks]


class Rollout:
    def __init__(self, runner: Runner, project: Project, release_dir: Path, first: int) -> None:
        self.runner = runner
        self.dep = runner.dep
        self.sink = runner.sink
        self.grace = runner.settings.kill_grace_seconds
        self.project = project
        self.release_dir = release_dir
        assert self.dep.release is not None
        self.release = PurePosixPath(self.dep.release).name
        self.indices = range(first, len(runner.specs))  # the stages on targets
        self.hosts: dict[str, Host] = {}
        self.progress: dict[str, dict[str, Any]] = {p["name"]: p for p in self.dep.targets or []}

    async def run(self) -> str | None:
        """None once every target runs the release (healthy), or why the deployment failed."""
        found = await Target.filter(project_id=self.project.id).order_by("name")
        if not found:
            await self._no_targets()
            return None
        try:
            if (error := await self._open(found)) is not None:
                # a resumed run: roll back what it switched on the hosts it can reach
                return error if self.dep.kind == Kind.ROLLBACK else await self._fail(error)
            if self.dep.kind == Kind.ROLLBACK:
                return await self._return_to_release(found)
            return await self._deploy(found)
        finally:
            for host in self.hosts.values():
                host.close()

    async def _no_targets(self) -> None:
        if self.indices:
            names = ", ".join(self.runner.specs[i].name for i in self.indices)
            await self.sink.say(f"no targets: skipping the stages on targets ({names})")
            for index in self.indices:
                await self.runner._set_stage(index, StageStatus.SKIPPED, finished_at=stamp())
            await self.runner._save(stage_index=len(self.runner.specs))
        return None

    async def _open(self, found: list[Target]) -> str | None:
        async def one(target: Target) -> str | None:
            try:
                self.hosts[target.name] = await targets.open_host(self.runner.engine.vault, target)
            except HostKeyError as exc:
                return f"{target.name}: {exc}"
            except TargetError as exc:
                return str(exc)
            return None

        errors = [e for e in await each(one(t) for t in found) if e]
        return errors[0] if errors else None

    async def _deploy(self, found: list[Target]) -> str | None:
        for target in found:
            self.progress.setdefault(
                target.name,
                {"name": target.name, "status": PENDING, "previous": None, "release": self.release},
            )
        await self._save_progress()
        try:
            error = await self._batches(found)
        except LeaseLost:
            raise  # the run is another worker's now: it finishes or rolls back
        except VaultError as exc:
            error = f"a secret cannot be decrypted: {exc}"
        except Exception as exc:  # a bug, or the Capstan host failing: never hosts left switched
            log.exception("rollout failed unexpectedly", extra={"deployment": str(self.dep.id)})
            error = f"internal error: {exc}"
        if error is not None:
            return await self._fail(error)
        await self._finish(found)
        return None

    async def _batches(self, found: list[Target]) -> str | None:
        if (error := await self._resume_interrupted()) is not None:
            return error
        if any(p["status"] == ROLLED_BACK for p in self.progress.values()):
            return "the run was rolling back when its worker stopped"
        size = len(found) if self.project.strategy == Strategy.ALL else self.project.batch_size
        batches = [found[i : i + size] for i in range(0, len(found), size)]
        for number, batch in enumerate(batches, 1):
            if len(batches) > 1:
                names = ", ".join(t.name for t in batch)
                await self.sink.say(f"batch {number} of {len(batches)}: {names}")
            if (error := await self._batch(batch)) is not None:
                return error
        return None

    async def _resume_interrupted(self) -> str | None:
        """A stage on targets was running when its worker died or stopped: stop what is left
        of it on every host, then run it again (or give up after too many tries)."""
        stages = self.runner.stages
        index = next((i for i in self.indices if stages[i]["status"] == StageStatus.RUNNING), None)
        if index is None:
            return None
        marker = f"CAPSTAN_DEPLOYMENT_ID={self.dep.id}"
        await each(targets.stop_marked(host, marker, self.grace) for host in self.hosts.values())
        if (error := await self.runner._count_interruption(index)) is not None:
            return error
        name = self.runner.specs[index].name
        await self.sink.say(f"stage {name} on targets was interrupted; running it again")
        return None

    async def _batch(self, batch: list[Target]) -> str | None:
        todo = [t for t in batch if self._status(t) in (PENDING, SHIPPED, FAILED)]
        if todo and (error := await self._prepare(todo)) is not None:
            return error
        errors = await each(self._switch(t) for t in batch if self._status(t) == READY)
        if error := next((e for e in errors if e), None):
            return error
        errors = await each(self._check(t) for t in batch if self._status(t) == SWITCHED)
        return next((e for e in errors if e), None)

    async def _prepare(self, todo: list[Target]) -> str | None:
        """Ship the release to the hosts, then run each stage on targets on all of them."""
        errors = [e for e in await each(self._ship(t) for t in todo) if e]
        if errors:
            return errors[0]
        for index in self.indices:
            if (error := await self._stage(index, todo)) is not None:
                return error
        for target in todo:
            await self._mark(target, READY)
        return None

    async def _ship(self, target: Target) -> str | None:
        host, entry = self.hosts[target.name], self.progress[target.name]
        try:
            previous = await targets.prepare(host)
            if entry["status"] == PENDING:
                entry["previous"] = previous
            base = self.runner.settings.base_env.get("PATH", "/usr/bin:/bin")
            await targets.ship(
                host,
                self.release_dir,
                self.release,
                entry["previous"],
                path_env=base,
                scratch=ssh.scratch(self.runner.settings.data_dir),
                grace=self.grace,
                on_output=self.sink.write,
                masker=self.runner.masker,
            )
        except TargetError as exc:
            await self._mark(target, FAILED)
            return str(exc)
        await self._mark(target, SHIPPED)
        previous = entry["previous"]
        linked = f", unchanged files linked to {previous}" if previous else ""
        await self.sink.say(f"shipped {self.release} to {target.name}{linked}")
        return None

    async def _stage(self, index: int, todo: list[Target]) -> str | None:
        await self.runner._set_stage(
            index, StageStatus.RUNNING, attempt=1, exit_code=None, started_at=stamp(),
            finished_at=None,
        )  # fmt: skip
        results = await each(self._attempts(index, t) for t in todo)
        failures = [r for r in results if r is not None]
        if failures:
            error, code = failures[0]
            await self.runner._set_stage(
                index, StageStatus.FAILED, exit_code=code, finished_at=stamp()
            )
            return error
        await self.runner._set_stage(index, StageStatus.SUCCEEDED, exit_code=0, finished_at=stamp())
        await self.runner._save(stage_index=index + 1)
        return None

    async def _attempts(self, index: int, target: Target) -> tuple[str, int | None] | None:
        """Run a stage on one host with its retries: None once it succeeded, or why it failed
        and its last exit code. The stage's `attempt` is the highest of its hosts'."""
        spec, state = self.runner.specs[index], self.runner.stages[index]
        assert spec.run is not None
        failures, attempt, metrics = 0, 0, self.runner.engine.metrics
        while True:
            attempt += 1
            if attempt > state["attempt"]:
                await self.runner._set_stage(index, StageStatus.RUNNING, attempt=attempt)
            host, started = self.hosts[target.name], time.monotonic()
            code: int | None
            # lost: the connection failed; stray: the run marker of what it may have left
            lost, stray = False, None
            try:
                code = await targets.run_script(
                    host,
                    spec.run,
                    cwd=host.release_dir(self.release),
                    env=await self._env(host, host.release_dir(self.release)),
                    timeout=spec.timeout,
                    grace=self.grace,
                    on_output=self.sink.write,
                    masker=self.runner.masker,
                )
                error = f"exited with code {code}"
            except StageTimeout as exc:
                code, error = None, str(exc)
            except targets.ConnectionLost as exc:
                code, error, lost, stray = None, f"failed: {exc}", True, exc.marker
            except TargetError as exc:
                code, error, lost = None, f"failed: {exc}", True
            verdict = judge(code, failures, spec.retries)
            metrics.stage_seconds.labels(verdict.status.value).observe(time.monotonic() - started)
            if verdict.retry_in is None:
                if verdict.status is StageStatus.FAILED:
                    if lost:  # for the rollback, and to stop what the attempt left running
                        await self._reconnect(target, stray)
                    await self._mark(target, FAILED)
                    return f"stage {spec.name} on {target.name} {error}", code
                return None
            failures = verdict.failures
            await self.sink.say(
                f"stage {spec.name} on {target.name} {error}; "
                f"attempt {attempt + 1} in {verdict.retry_in} s"
            )
            await asyncio.sleep(verdict.retry_in)
            if lost:
                await self._reconnect(target, stray)

    async def _reconnect(self, target: Target, stray: str | None) -> None:
        """A fresh connection to the host after one failed (the next attempt on a dead one
        would fail the same way), over which the processes the failed attempt may have left
        running (`stray`, its run's marker) are stopped first; the old one stays if the host
        cannot be reached now."""
        try:
            fresh = await targets.open_host(self.runner.engine.vault, target)
        except (HostKeyError, TargetError) as exc:
            await self.sink.say(f"reconnecting to {target.name} failed: {exc}")
            return
        self.hosts[target.name].close()
        self.hosts[target.name] = fresh
        if stray is not None:
            await targets.stop_marked(fresh, stray, self.grace)

    async def _switch(self, target: Target) -> str | None:
        host, entry = self.hosts[target.name], self.progress[target.name]
        try:
            await targets.switch(host, self.release)
        except TargetError as exc:
            return f"switching current on {target.name} failed: {exc}"
        await self._mark(target, SWITCHED)
        await self._record(target, self.dep.release)
        was = entry["previous"] or "none"
        await self.sink.say(f"{target.name}: current -> {self.release} (was {was})")
        return None

    async def _check(self, target: Target) -> str | None:
        spec = self.project.health_check
        if not spec:
            await self._mark(target, HEALTHY)
            return None
        host = self.hosts[target.name]
        failure = await health.check(
            spec,
            host,
            env=await self._env(host, host.current_dir()),
            grace=self.grace,
            on_output=self.sink.write,
            masker=self.runner.masker,
            say=self.sink.say,
        )
        result = {"ok": failure is None, "at": stamp(), "detail": failure or "passed"}
        await settled(Target.filter(id=target.id).update(health=result))
        if failure is not None:
            return f"health check failed on {target.name}: {failure}"
        await self._mark(target, HEALTHY)
        return None

    async def _fail(self, error: str) -> str:
        """Switch every host that moved back to its previous release and run `on_rollback`
        there; the deployment's error names the hosts rolled back."""
        moved = [
            name
            for name, p in self.progress.items()
            if p["status"] in MOVED | {ROLLED_BACK} and name in self.hosts
        ]
        if not moved:
            return error
        await self.sink.say(f"{error}; rolling back {', '.join(moved)}")
        problems = [e for e in await each(self._roll_back(name) for name in moved) if e]
        return "; ".join([error, f"rolled back {', '.join(moved)}", *problems])

    async def _roll_back(self, name: str) -> str | None:
        host, entry = self.hosts[name], self.progress[name]
        previous = entry["previous"]
        try:
            await targets.switch(host, previous)
        except TargetError as exc:
            return f"rolling back {name} failed: {exc}"
        await self._mark(host.target, ROLLED_BACK)
        assert self.dep.release is not None
        back = str(PurePosixPath(self.dep.release).with_name(previous)) if previous else None
        await self._record(host.target, back)
        await self.sink.say(f"{name}: current -> {previous or 'none (removed)'}")
        if previous is None:
            return None
        return await self._on_rollback(host)

    async def _on_rollback(self, host: Host) -> str | None:
        script = self.project.on_rollback
        if not script:
            return None
        await self.sink.say(f"running on_rollback on {host.name}")
        try:
            code = await targets.run_script(
                host,
                script,
                cwd=host.current_dir(),
                env=await self._env(host, host.current_dir()),
                timeout=ROLLBACK_TIMEOUT,
                grace=self.grace,
                on_output=self.sink.write,
                masker=self.runner.masker,
            )
        except (StageTimeout, TargetError) as exc:
            return f"on_rollback on {host.name}: {exc}"
        return None if code == 0 else f"on_rollback on {host.name} exited with code {code}"

    async def _return_to_release(self, found: list[Target]) -> str | None:
        """A rollback deployment: every host that still has the release switches back to it
        (and runs `on_rollback`); the others are left as they are."""

        async def one(target: Target) -> str | None:
            host = self.hosts[target.name]
            try:
                if self.release not in await targets.releases(host):
                    await self.sink.say(f"{target.name} has no {self.release}: left as it is")
                    return None
                previous = await targets.prepare(host)
                await targets.switch(host, self.release)
            except TargetError as exc:
                return str(exc)
            self.progress[target.name] = {
                "name": target.name, "status": SWITCHED, "previous": previous,
                "release": self.release,
            }  # fmt: skip
            await self._save_progress()
            was = previous or "none"
            await self.sink.say(f"{target.name}: current -> {self.release} (was {was})")
            await self._record(target, self.dep.release)
            return await self._on_rollback(host)

        errors = [e for e in await each(one(t) for t in found) if e]
        return errors[0] if errors else None

    async def _finish(self, found: list[Target]) -> None:
        """Every host runs the release (recorded at its switch): prune old releases there."""
        keep = self.project.keep_releases

        async def one(target: Target) -> None:
            try:
                removed = await targets.prune(self.hosts[target.name], keep, {self.release})
            except TargetError as exc:
                await self.sink.say(f"pruning old releases failed: {exc}")
                return
            if removed:
                await self.sink.say(f"{target.name}: pruned {', '.join(removed)}")

        await each(one(t) for t in found)

    def _status(self, target: Target) -> str:
        return str(self.progress[target.name]["status"])

    async def _mark(self, target: Target, status: str) -> None:
        self.progress[target.name]["status"] = status
        await self._save_progress()

    async def _record(self, target: Target, release: str | None) -> None:
        """The release `current` points at on the target now, for the API and the page; the
        write runs to its end even if the run is cancelled meanwhile."""
        await settled(Target.filter(id=target.id).update(current_release=release))

    async def _save_progress(self) -> None:
        await self.runner._save(targets=[dict(p) for p in self.progress.values()])

    async def _env(self, host: Host, release_dir: str) -> dict[str, str]:
        """A script's environment on a target: the project's secrets and CAPSTAN_* (the
        target's own directories; nothing of the Capstan host's environment)."""
        return {
            **await self.runner._secrets(),
            **self.runner._deployment_env(),
            "CAPSTAN_RELEASE": self.release,
            "CAPSTAN_RELEASE_DIR": release_dir,
            "CAPSTAN_CURRENT_DIR": host.current_dir(),
            "CAPSTAN_TARGET": host.name,
            "CAPSTAN_TARGET_HOST": host.target.host,
        }
