"""Project and pipeline specs: validation of what users send, and retry backoff."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from app.domain import repos, text
from app.domain.status import Concurrency, StageStatus, Strategy
from app.errors import Invalid

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
GIT_REF = re.compile(r"^(?!-)[^\s~^:?*\[\\\x00-\x1f\x7f]{1,255}$")
SHA = re.compile(r"^[0-9a-f]{40}$")

BACKOFF_SECONDS = (1, 5, 25)
MAX_INTERRUPTIONS = 3  # a stage whose worker died this often mid-run fails
DEFAULT_TIMEOUT = 3600
MAX_TIMEOUT = 7 * 24 * 3600
MAX_RETRIES = 10
MAX_STAGES = 50
MAX_SCRIPT = 65536  # a stage's `run`, a project's `on_rollback`
MAX_REPO_URL = 2048
MAX_TAG_GLOB = 255
MAX_GLOB = 1024
KEEP_RELEASES = 5
MAX_KEEP_RELEASES = 1000
# Log retention: the logs of the last N deployments, and/or of those that ended in the last N
# days (null: kept for ever).
MAX_KEEP_LOGS = 1_000_000
MAX_KEEP_LOG_DAYS = 36_500

EDITABLE = (
    "repo_url",
    "branch",
    "stages",
    "concurrency",
    "keep_releases",
    "keep_logs",
    "keep_log_days",
    "on_rollback",
    "deploy_tags",
    "paths",
    "members_can_approve",
    "no_self_approval",
    "strategy",
    "batch_size",
    "health_check",
)
MAX_GLOBS = 100
MAX_BATCH_SIZE = 100
TARGETS = "targets"  # a stage's `on`: it runs on every target of the project, over SSH
# A health check: bounds and defaults of its fields (seconds, counts, an HTTP status).
HEALTH_BOUNDS = {
    "timeout": (1, 300, 10),
    "retries": (0, 20, 3),
    "interval": (1, 60, 2),
    "expect_status": (100, 599, 200),
}
MAX_HEALTH_URL = 2048


@dataclasses.dataclass(frozen=True)
class StageSpec:
    name: str
    run: str | None = None
    approval: bool = False
    timeout: int = DEFAULT_TIMEOUT
    retries: int = 0
    on: str | None = None  # None: on the Capstan host; "targets": on each target

    @property
    def on_targets(self) -> bool:
        return self.on == TARGETS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.run is not None:
            out.update(run=self.run, timeout=self.timeout, retries=self.retries)
        if self.approval:
            out["approval"] = True
        if self.on is not None:
            out["on"] = self.on
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageSpec:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def backoff(attempt: int) -> int:
    """Seconds to wait before attempt number `attempt + 1` (1 s, 5 s, then 25 s)."""
    return BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What an attempt's exit means for its stage: `status` succeeded or failed, or (when a
    retry is left) `retry_in` seconds before the next attempt."""

    status: StageStatus
    failures: int
    retry_in: int | None = None


def judge(exit_code: int | None, failures: int, retries: int) -> Verdict:
    """Fold one attempt's exit code (None: it timed out) into its stage's state, given the
    failed attempts before it and the retries the stage allows."""
    if exit_code == 0:
        return Verdict(StageStatus.SUCCEEDED, failures)
    failures += 1
    if failures > retries:
        return Verdict(StageStatus.FAILED, failures)
    return Verdict(StageStatus.FAILED, failures, retry_in=backoff(failures))


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not PROJECT_NAME.fullmatch(name):
        raise Invalid(f"name must match {PROJECT_NAME.pattern}", field="name")
    return name


def validate_ref(ref: object, field: str = "ref") -> str:
    if not isinstance(ref, str) or not GIT_REF.fullmatch(ref) or ".." in ref:
        raise Invalid(f"{field} is not a valid git ref", field=field)
    return ref


def validate_project(data: object, *, create: bool) -> dict[str, Any]:
    """Check a project body and return its cleaned fields.

    With `create`, `name` and `stages` are required and defaults are filled in; otherwise
    (PATCH) only the fields given are returned and `name` may not change.
    """
    data = text.only(data, "name", *EDITABLE)
    out: dict[str, Any] = {}
    if create:
        out["name"] = validate_name(data.get("name"))
    elif "name" in data:
        raise Invalid("a project cannot be renamed", field="name")
    checks = {
        "repo_url": _repo_url,
        "branch": lambda v: validate_ref(v, "branch"),
        "stages": _stages,
        "concurrency": lambda v: _choice(Concurrency, v, "concurrency"),
        "keep_releases": lambda v: _bounded(v, 1, MAX_KEEP_RELEASES, "keep_releases"),
        "keep_logs": lambda v: _optional_count(v, "keep_logs", MAX_KEEP_LOGS),
        "keep_log_days": lambda v: _optional_count(v, "keep_log_days", MAX_KEEP_LOG_DAYS),
        "on_rollback": _on_rollback,
        "deploy_tags": _deploy_tags,
        "paths": _paths,
        "members_can_approve": _flag,
        "no_self_approval": _flag,
        "strategy": lambda v: _choice(Strategy, v, "strategy"),
        "batch_size": lambda v: _bounded(v, 1, MAX_BATCH_SIZE, "batch_size"),
        "health_check": _health_check,
    }
    for key, check in checks.items():
        if key in data:
            out[key] = _flag(data[key], key) if check is _flag else check(data[key])
    if create:
        if "stages" not in out:
            raise Invalid("stages is required", field="stages")
        out.setdefault("repo_url", None)
        out.setdefault("branch", "main")
        out.setdefault("concurrency", Concurrency.QUEUE)
        out.setdefault("keep_releases", KEEP_RELEASES)
        out.setdefault("keep_logs", None)
        out.setdefault("keep_log_days", None)
        out.setdefault("on_rollback", None)
        out.setdefault("deploy_tags", None)
        out.setdefault("paths", None)
        out.setdefault("members_can_approve", False)
        out.setdefault("no_self_approval", False)
        out.setdefault("strategy", Strategy.ALL)
        out.setdefault("batch_size", 1)
        out.setdefault("health_check", None)
    return out


def _repo_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_REPO_URL or value.startswith("-"):
        raise Invalid("repo_url must be a git URL or a local path", field="repo_url")
    if any(ch in value for ch in "\x00\n\r"):
        raise Invalid("repo_url must be a git URL or a local path", field="repo_url")
    return repos.check(value)


def _choice(choices: type[StrEnum], value: object, field: str) -> str:
    """The value of the member of `choices` that `value` names."""
    try:
        return choices(str(value)).value
    except ValueError:
        names = ", ".join(c.value for c in choices)
        raise Invalid(f"{field} must be one of: {names}", field=field) from None


def _bounded(value: object, low: int, high: int, field: str) -> int:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise Invalid(f"{field} must be an integer from {low} to {high}", field=field)
    return value  # type: ignore[return-value]


def _optional_count(value: object, field: str, high: int) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= high:  # type: ignore[operator]
        raise Invalid(f"{field} must be null or an integer from 1 to {high}", field=field)
    return value  # type: ignore[return-value]


def _on_rollback(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_SCRIPT:
        raise Invalid("on_rollback must be a bash script", field="on_rollback")
    return value


def _flag(value: object, field: str = "") -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false", field=field)
    return value


def _health_check(value: object) -> dict[str, Any] | None:
    """null, or a `url` (`{host}` filled in per target) or a `command` run on each target in
    its new `current`, with timeout, retries, interval and (for a url) the expected status."""
    field = "health_check"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("health_check must be null or an object", field=field)
    unknown = sorted(set(value) - {"url", "command", *HEALTH_BOUNDS})
    if unknown:
        raise Invalid(f"unknown health_check field {unknown[0]!r}", field=f"{field}.{unknown[0]}")
    if ("url" in value) == ("command" in value):
        raise Invalid("health_check needs either url or command", field=field)
    out: dict[str, Any] = {}
    if "url" in value:
        out["url"] = _health_url(value["url"])
    else:
        command = value["command"]
        if not isinstance(command, str) or not command.strip() or len(command) > MAX_SCRIPT:
            raise Invalid("command must be a non-empty bash script", field=f"{field}.command")
        out["command"] = command
        if "expect_status" in value:
            raise Invalid("expect_status is for a url", field=f"{field}.expect_status")
    for name, (low, high, default) in HEALTH_BOUNDS.items():
        if name == "expect_status" and "url" not in out:
            continue
        number = value.get(name, default)
        if not _is_int(number) or not low <= number <= high:
            raise Invalid(f"{name} must be an integer from {low} to {high}",
                          field=f"{field}.{name}")  # fmt: skip
        out[name] = number
    return out


def _health_url(value: object) -> str:
    where = "health_check.url"
    if not isinstance(value, str) or len(value) > MAX_HEALTH_URL:
        raise Invalid("url must be an http or https URL", field=where)
    try:
        parts = urllib.parse.urlsplit(value.replace("{host}", "host.invalid"))
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        parts = urllib.parse.urlsplit("")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or not ch.isprintable() for ch in value)
    ):
        raise Invalid("url must be an http or https URL, {host} standing for the target's host",
                      field=where)  # fmt: skip
    return value


def _deploy_tags(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TAG_GLOB:
        raise Invalid("deploy_tags must be a glob such as v*", field="deploy_tags")
    return value


def _paths(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_GLOBS:
        raise Invalid(f"paths must be a list of at most {MAX_GLOBS} globs", field="paths")
    for i, glob in enumerate(value):
        if not isinstance(glob, str) or not glob or len(glob) > MAX_GLOB:
            raise Invalid("each path must be a non-empty glob", field=f"paths[{i}]")
    return value or None


def _stages(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise Invalid("stages must be a non-empty list", field="stages")
    if len(value) > MAX_STAGES:
        raise Invalid(f"at most {MAX_STAGES} stages", field="stages")
    specs = [_stage(i, item) for i, item in enumerate(value)]
    names = [s.name for s in specs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise Invalid(f"stage name {name!r} is used twice", field=f"stages[{i}].name")
    for i, spec in enumerate(specs):
        if not spec.on_targets and any(s.on_targets for s in specs[:i]):
            raise Invalid("stages on targets come after every stage on the Capstan host",
                          field=f"stages[{i}].on")  # fmt: skip
    return [s.to_json() for s in specs]


def _stage(i: int, item: object) -> StageSpec:
    where = f"stages[{i}]"
    if not isinstance(item, dict):
        raise Invalid("a stage must be an object", field=where)
    unknown = sorted(set(item) - {"name", "run", "approval", "timeout", "retries", "on"})
    if unknown:
        raise Invalid(f"unknown stage field {unknown[0]!r}", field=f"{where}.{unknown[0]}")
    name = item.get("name")
    if not isinstance(name, str) or not STAGE_NAME.fullmatch(name):
        raise Invalid(f"stage name must match {STAGE_NAME.pattern}", field=f"{where}.name")
    run = item.get("run")
    if run is not None and (not isinstance(run, str) or not run.strip() or len(run) > MAX_SCRIPT):
        raise Invalid("run must be a non-empty bash script", field=f"{where}.run")
    approval = item.get("approval", False)
    if not isinstance(approval, bool):
        raise Invalid("approval must be true or false", field=f"{where}.approval")
    if run is None and not approval:
        raise Invalid("a stage needs run, approval, or both", field=where)
    timeout = item.get("timeout", DEFAULT_TIMEOUT)
    if not _is_int(timeout) or not 1 <= timeout <= MAX_TIMEOUT:
        raise Invalid(f"timeout must be 1 to {MAX_TIMEOUT} seconds", field=f"{where}.timeout")
    retries = item.get("retries", 0)
    if not _is_int(retries) or not 0 <= retries <= MAX_RETRIES:
        raise Invalid(f"retries must be 0 to {MAX_RETRIES}", field=f"{where}.retries")
    on = item.get("on")
    if on is not None and on != TARGETS:
        raise Invalid(f"on must be {TARGETS!r} or absent (the Capstan host)", field=f"{where}.on")
    if on == TARGETS and (approval or run is None):
        raise Invalid("a stage on targets needs run and cannot be an approval gate",
                      field=f"{where}.on")  # fmt: skip
    return StageSpec(name=name, run=run, approval=approval, timeout=timeout, retries=retries, on=on)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
