"""The one plain value every provider's payload becomes, and what a project does with it.

Nothing past `app.hooks` knows a provider's JSON: the webhook edge turns a delivery into a
`Push`, and `decide` says whether it deploys, and which ref.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from typing import Any

from app.domain.pipeline import GIT_REF, SHA
from app.domain.status import Outcome

ZERO_SHA = "0" * 40


class BadPayload(Exception):
    """The body cannot be read as the provider's payload."""


# The HTTP status a forge is answered for each outcome (kept on the delivery's record): never
# a 4xx for a push that merely does not deploy, since GitLab disables a hook on 4xx answers.
ANSWERED: dict[Outcome, int] = {
    Outcome.DEPLOYED: 202,
    Outcome.IGNORED: 202,
    Outcome.REFUSED: 202,
    Outcome.PING: 200,
    Outcome.FAILED: 503,
    Outcome.BAD_PAYLOAD: 400,
}


@dataclasses.dataclass(frozen=True)
class Push:
    provider: str
    delivery_id: str
    event: str  # "push", "ping", or the provider's name for anything else
    ref: str | None = None  # the full ref: refs/heads/main, refs/tags/v1.2
    before: str | None = None  # what the ref pointed to before (zeros: it is new)
    commit: str | None = None
    pusher: str | None = None
    paths: tuple[str, ...] | None = None  # None when the payload may not list them all
    deleted: bool = False
    repository: str | None = None  # owner/name (GitLab: the project id)
    api: str | None = None  # the provider's API base, when the payload tells it

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["paths"] = list(self.paths) if self.paths is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Push:
        paths = data.get("paths")
        return cls(**{**data, "paths": tuple(paths) if paths is not None else None})


@dataclasses.dataclass(frozen=True)
class Decision:
    """`ref` to deploy, or the `reason` to ignore the push."""

    ref: str | None = None
    reason: str | None = None


def decide(
    push: Push, branch: str, deploy_tags: str | None, paths: Sequence[str] | None
) -> Decision:
    """Deploy a push to `branch` (if a changed file matches `paths`, when set), or a tag that
    matches the `deploy_tags` glob; ignore anything else, saying why. When the payload may not
    list every changed file, `paths` is left to the worker, which diffs in its mirror
    (`app.engine.pushes`)."""
    if push.event != "push":
        return Decision(reason=f"event {push.event!r} does not deploy")
    if push.deleted:
        return Decision(reason=f"{push.ref} was deleted")
    if not push.commit or not SHA.fullmatch(push.commit) or push.commit == ZERO_SHA:
        return Decision(reason="the push names no commit")
    ref = push.ref or ""
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        if not GIT_REF.fullmatch(tag) or ".." in tag:
            return Decision(reason="the tag is not a valid git ref")
        if deploy_tags and fnmatch.fnmatchcase(tag, deploy_tags):
            return Decision(ref=tag)
        return Decision(reason=f"tag {tag} does not match deploy_tags")
    if not ref.startswith("refs/heads/"):
        return Decision(reason=f"{ref or 'no ref'} is not a branch or tag")
    name = ref.removeprefix("refs/heads/")
    if name != branch:
        return Decision(reason=f"branch {name} is not {branch}")
    if paths and push.paths is not None and not matches_any(push.paths, paths):
        return Decision(reason="no changed file matches paths")
    return Decision(ref=name)


def matches_any(changed: Sequence[str], globs: Sequence[str]) -> bool:
    """Whether a changed file matches a glob (`*` also crosses `/`: `src/*` is all of src)."""
    return any(fnmatch.fnmatchcase(path, glob) for path in changed for glob in globs)


def changed_paths(commits: object, complete: bool) -> tuple[str, ...] | None:
    """Files added, removed or modified by the payload's commits; None if it may list only
    some, or none (a new branch of existing commits comes with `commits: []`)."""
    if not complete or not isinstance(commits, list) or not commits:
        return None
    paths: set[str] = set()
    for commit in commits:
        if not isinstance(commit, dict):
            continue
        for key in ("added", "removed", "modified"):
            files = commit.get(key)
            if isinstance(files, list):
                paths.update(str(f) for f in files)
    return tuple(sorted(paths))
