"""Whether a webhook push still deploys, decided by the worker in the freshly fetched mirror.

Deliveries arrive late and out of order, and a payload may not list every changed file. So,
after the fetch and before the export, a deployment started by a webhook push is checked:
- Order: it goes on if its commit is still what the pushed ref points to, or descends from
  the deployed commit (the project's current deployment's), or nothing is deployed. Otherwise
  it is stale: v1 delivered after v2 does not move `current` back to v1.
- Paths: with `paths` set and a payload that listed no commits (a new branch of existing
  commits) or maybe not all of them, it goes on only if `git diff` from the push's `before`
  (or from the deployed commit, when `before` is zeros or unknown) touches a matching file;
  with nothing deployed to compare with, it goes on.
A stale push ends CANCELLED with the reason, and its delivery is recorded as ignored. What git
cannot tell (a commit the mirror lacks) lets the push deploy. Manual triggers and replays are
never checked: they deploy any commit.
"""

from __future__ import annotations

from app.domain.pipeline import SHA
from app.domain.status import Outcome, TriggerType
from app.engine.releases import Mirror, Vet
from app.forges.push import Push, matches_any
from app.models import Delivery, Deployment, Project


class Stale(Exception):
    """The push no longer deploys; the message says why."""


async def vet(dep: Deployment, project: Project) -> Vet | None:
    """The check for `dep` once the mirror is fetched; None when it is not a webhook push."""
    if dep.trigger.get("type") != TriggerType.WEBHOOK or dep.trigger.get("replay"):
        return None
    delivery = await Delivery.get_or_none(project_id=dep.project_id, deployment_id=dep.id)
    if delivery is None or not delivery.push:
        return None
    push = Push.from_json(delivery.push)
    current = None
    if project.current_deployment_id:
        current = await Deployment.get_or_none(id=project.current_deployment_id)
    deployed = current.commit if current else None
    globs = project.paths

    async def check(mirror: Mirror) -> None:
        reason = await stale_reason(mirror, push, deployed, globs)
        if reason:
            raise Stale(reason)

    return check


async def ignore_delivery(dep: Deployment, reason: str) -> None:
    """Record on the delivery that started `dep` that it was ignored after all."""
    await Delivery.filter(project_id=dep.project_id, deployment_id=dep.id).update(
        outcome=Outcome.IGNORED, reason=reason
    )


async def stale_reason(
    mirror: Mirror, push: Push, deployed: str | None, globs: list[str] | None
) -> str | None:
    """Why `push` no longer deploys over `deployed`, or None when it does."""
    commit = push.commit or ""
    if (
        deployed
        and push.ref
        and await _commit(mirror, push.ref) != commit
        and await _descends(mirror, commit, deployed) is False
    ):
        older = await _descends(mirror, deployed, commit)
        relation = "older than" if older else "not newer than"
        return f"skipped: {commit[:12]} is {relation} the deployed {deployed[:12]}"
    if globs and push.paths is None and (push.ref or "").startswith("refs/heads/"):
        before = push.before if push.before and SHA.fullmatch(push.before) else None
        base = before if before and await _commit(mirror, before) else deployed
        changed = await _changed(mirror, base, commit) if base else None
        if base and changed is not None and not matches_any(changed, globs):
            return f"skipped: no file changed from {base[:12]} to {commit[:12]} matches paths"
    return None


async def _commit(mirror: Mirror, rev: str) -> str | None:
    """The commit `rev` (a full ref or a sha) names in the mirror, if any."""
    code, out = await mirror.git("rev-parse", "--verify", "--quiet", "--end-of-options",
                                 f"{rev}^{{commit}}")  # fmt: skip
    return out.strip() if code == 0 else None


async def _descends(mirror: Mirror, commit: str, ancestor: str) -> bool | None:
    """Whether `ancestor` is an ancestor of `commit` (or it); None when git cannot tell."""
    code, _ = await mirror.git("merge-base", "--is-ancestor", "--end-of-options", ancestor, commit)
    return {0: True, 1: False}.get(code)


async def _changed(mirror: Mirror, base: str, commit: str) -> list[str] | None:
    """Files that differ between `base` and `commit` (renames count at both ends)."""
    code, out = await mirror.git(
        "diff", "--name-only", "--no-renames", "-z", "--end-of-options", base, commit, "--"
    )
    return [name for name in out.split("\0") if name] if code == 0 else None
