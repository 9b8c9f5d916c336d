"""Target specs: what a user may say about a server a project deploys to over SSH.

Every value here ends up in an SSH connection or a remote shell command, so each is held to
a shape that needs no quoting: a host is a DNS name or an IP literal (never an option such as
`-oProxyCommand=...`), a user a POSIX user name, a path absolute and made only of the
characters `shlex.quote` leaves alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.domain import hosts, text
from app.errors import Invalid

TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# POSIX's portable user names: not starting with a hyphen (or a dot, or a digit).
USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
# `shlex.quote`'s safe characters: a path of them means the same to every shell.
PATH_CHARS = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
MAX_HOST = hosts.MAX_HOST
MAX_PATH = 1024
MAX_LABELS = 20
DEFAULT_PORT = 22

EDITABLE = ("host", "port", "user", "path", "labels")


def validate_target(data: object, *, create: bool) -> dict[str, Any]:
    """Check a target body and return its cleaned fields.

    With `create`, `name`, `host`, `user` and `path` are required and defaults are filled in;
    otherwise (PATCH) only the fields given are returned and `name` may not change.
    """
    data = text.only(data, "name", *EDITABLE)
    out: dict[str, Any] = {}
    if create:
        out["name"] = validate_target_name(data.get("name"))
    elif "name" in data:
        raise Invalid("a target cannot be renamed (remove it and add it again)", field="name")
    checks: dict[str, Callable[[object], object]] = {
        "host": hosts.validate, "port": _port, "user": _user, "path": _path, "labels": _labels,
    }  # fmt: skip
    for key, check in checks.items():
        if key in data:
            out[key] = check(data[key])
    if create:
        for required in ("host", "user", "path"):
            if required not in out:
                raise Invalid(f"{required} is required", field=required)
        out.setdefault("port", DEFAULT_PORT)
        out.setdefault("labels", [])
    return out


def validate_target_name(name: object) -> str:
    if not isinstance(name, str) or not TARGET_NAME.fullmatch(name):
        raise Invalid(f"name must match {TARGET_NAME.pattern}", field="name")
    return name


def _port(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise Invalid("port must be an integer from 1 to 65535", field="port")
    return value


def _user(value: object) -> str:
    if not isinstance(value, str) or not USER.fullmatch(value):
        raise Invalid(
            "user must be a user name (letters, digits, _ . -, not starting with - or a digit)",
            field="user",
        )
    return value


def _path(value: object) -> str:
    """An absolute directory below `/` (a final `/` and empty or `.` parts dropped)."""
    if not isinstance(value, str) or len(value) > MAX_PATH or not value.startswith("/"):
        raise Invalid("path must be an absolute path", field="path")
    if not PATH_CHARS.fullmatch(value):
        raise Invalid(
            "path may hold only letters, digits and _ @ % + = : , . / - (no spaces)",
            field="path",
        )
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Invalid("path may not contain ..", field="path")
    if not parts:
        raise Invalid("path must be a directory below /", field="path")
    return "/" + "/".join(parts)


def _labels(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise Invalid(f"labels must be a list of at most {MAX_LABELS} names", field="labels")
    out: list[str] = []
    for i, label in enumerate(value):
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise Invalid(f"a label must match {LABEL.pattern}", field=f"labels[{i}]")
        if label not in out:
            out.append(label)
    return out
