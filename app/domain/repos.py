"""Repository URLs: which git transports are allowed, which URLs name a local path, and the
credentials a URL carries (never shown: `https://***@host/...`).

A local path (`/srv/git/web.git`, `file:///srv/git/web.git`) lets git read anything Capstan's
user can: the server refuses one inside its data directory, and lets only admins use others
unless configured otherwise (see `app/web/projects.py`). Credentials in a URL are taken out of it
before git runs and given to git by a credential helper, as a project's `GIT_USERNAME` and
`GIT_PASSWORD` secrets are: never in a URL stored on disk or in a process's arguments.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import unquote

from app.domain import hosts
from app.errors import Invalid

SCHEMES = ("https", "http", "ssh", "git", "git+ssh", "ssh+git", "file")
SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?P<userinfo>[^/?#@]*)@)?(?P<rest>.*)")
HELPER = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*::")  # git's `<transport>::<address>`
PASSWORD_SECRET, USERNAME_SECRET = "GIT_PASSWORD", "GIT_USERNAME"
DEFAULT_USERNAME = "git"
USAGE = "repo_url must be an https, http, ssh or git URL, a file:// URL or an absolute path"


@dataclasses.dataclass(frozen=True)
class Remote:
    """What git is given: the URL without credentials, and the credentials apart."""

    url: str
    username: str | None = None
    password: str | None = None


def check(url: str) -> str:
    """`url` if git may use it (a known transport; a local path must be absolute)."""
    if HELPER.match(url):
        raise Invalid(f"{USAGE} (git remote helpers such as ext:: are refused)", field="repo_url")
    parsed = URL.fullmatch(url)
    if parsed is not None and parsed["scheme"].lower() not in SCHEMES:
        raise Invalid(USAGE, field="repo_url")
    path = local_path(url)
    if path is not None and not path.startswith("/"):
        raise Invalid(f"{USAGE}: a local path must be absolute", field="repo_url")
    try:
        ssh_host(url)
    except ValueError as exc:
        raise Invalid(f"repo_url: {exc}", field="repo_url") from None
    return url


def local_path(url: str) -> str | None:
    """The path git reads when `url` names a repository on this machine, else None."""
    parsed = URL.fullmatch(url)
    if parsed is not None:
        if parsed["scheme"].lower() != "file":
            return None
        rest = parsed["rest"]  # file://host/path: git ignores the host
        return unquote(rest[rest.find("/") :]) if "/" in rest else ""
    colon, slash = url.find(":"), url.find("/")
    if colon == -1 or (slash != -1 and slash < colon):
        return url
    return None  # host:path, git's scp-like syntax for ssh


def reads_from(url: str, directory: Path) -> bool:
    """Whether git, given `url`, would read a repository inside `directory`."""
    path = local_path(url)
    return path is not None and within(path, directory)


def within(path: str, directory: Path) -> bool:
    """Whether `path` is `directory` or inside it, after symlinks and `..` are resolved."""
    resolved, root = os.path.realpath(path), os.path.realpath(directory)
    return resolved == root or resolved.startswith(root.rstrip("/") + "/")


def redact(url: str | None) -> str | None:
    """`url` as it may be shown: credentials become `***` (an ssh user name stays)."""
    if url is None:
        return None
    parsed = URL.fullmatch(url)
    if parsed is None or parsed["userinfo"] is None or _ssh_user(parsed):
        return url
    return f"{parsed['scheme']}://***@{parsed['rest']}"


def remote(url: str, secrets: dict[str, str]) -> Remote:
    """The credentials of `url`, else the project's GIT_USERNAME/GIT_PASSWORD secrets, taken
    apart from the URL git is given."""
    parsed = URL.fullmatch(url)
    if parsed is None or parsed["scheme"].lower() not in ("http", "https"):
        return Remote(url)
    if parsed["userinfo"] is not None:
        user, _, password = parsed["userinfo"].partition(":")
        return Remote(f"{parsed['scheme']}://{parsed['rest']}", unquote(user), unquote(password))
    if PASSWORD_SECRET in secrets:
        username = secrets.get(USERNAME_SECRET) or DEFAULT_USERNAME
        return Remote(url, username, secrets[PASSWORD_SECRET])
    return Remote(url)


def _ssh_user(parsed: re.Match[str]) -> bool:
    return parsed["scheme"].lower() in SSH_SCHEMES and ":" not in parsed["userinfo"]


@dataclasses.dataclass(frozen=True)
class SshHost:
    """Where git connects for an ssh URL: the host (brackets taken off an IPv6 address) and
    port whose host key must be trusted."""

    host: str
    port: int = 22


def ssh_host(url: str) -> SshHost | None:
    """The host git reaches over SSH for `url` (`ssh://`, `git+ssh://`, `ssh+git://` or the
    scp-like `user@host:path`), else None; ValueError if the host (a name or address, see
    `app.domain.hosts`, normalized) or port is malformed."""
    parsed = URL.fullmatch(url)
    if parsed is not None:
        if parsed["scheme"].lower() not in SSH_SCHEMES:
            return None
        found = AUTHORITY.fullmatch(parsed["rest"].split("/", 1)[0])
    elif local_path(url) is None:
        found = SCP_LIKE.match(url)
    else:
        return None
    given = found["host"].strip("[]") if found else ""
    if not given:
        raise ValueError(f"no host in {redact(url)}")
    host = hosts.normalize(given)
    number = found.groupdict().get("port") if found else None
    port = int(number) if number else 22
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return SshHost(host, port)


# `host[:port]` or `[v6-address][:port]`; scp-like `[user@]host:path` has no port.
AUTHORITY = re.compile(r"(?P<host>\[[^\]/]*\]|[^:\[\]@]*)(?::(?P<port>[0-9]{0,5}))?")
SCP_LIKE = re.compile(r"(?:[^@/]*@)?(?P<host>\[[^\]/]*\]|[^:/\[\]@]+):")
