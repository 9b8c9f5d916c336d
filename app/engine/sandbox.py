"""Stage sandboxes: a stage sees its own release and nothing of the server.

A stage runs in new user, mount, pid, ipc and uts namespaces, built by bubblewrap (`bwrap`,
Flatpak's sandbox) where it is installed, else by util-linux `unshare` and the setup script
below (a new root, `pivot_root`, then every capability dropped). Inside:

- `/usr`, `/etc`, `/bin`, `/lib*`, `/sbin`, `/opt`: read-only; the project's other releases
  read-only, and `current` pointing at one of them;
- the release directory and the project's cache (`DATA_DIR/projects/{name}/cache`, also
  `$HOME`): writable; a private `/tmp` and `/dev/shm`;
- `DATA_DIR` (database, master key, Redis, other projects), `/root`, `/home`: absent;
- `/proc` of its own pid namespace: no other process exists. The stage's first process is the
  namespace's init; when it exits the kernel kills whatever is left (`setsid`, double forks,
  daemons), and if Capstan dies the whole sandbox dies with it (parent-death signal);
- the network is the host's: builds fetch packages.

When Capstan runs as root, the namespaces are built as root and the stage then runs as an
unprivileged uid (`CAPSTAN_SANDBOX_UID`) that owns the release and the cache; otherwise it
runs as Capstan's own uid inside a user namespace. Either way it has no capabilities.

`CAPSTAN_SANDBOX=auto` takes the first kind that works on this host; `none` runs stages
unconfined, and then only admins may write stages unless `CAPSTAN_SINGLE_TEAM=1`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from app.errors import ConfigError

KINDS = ("bwrap", "unshare")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
PROBE_SECONDS = 10.0

# Runs as root of the new namespaces: builds a root in a tmpfs, binds what the stage may see,
# pivots into it, then runs the stage with no capabilities (as `uid`, if one is given) as a
# child of this script, the namespace's init, which passes SIGTERM on. Arguments: release,
# cache, releases, current's target (or ""), uid (or ""), the empty directory the new root is
# mounted on (the project's `.root`: only this mount namespace sees the tmpfs on it, so nothing
# is left on the host), directories to hide, "--", argv.
SETUP = r"""
set -eu
stage_path=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
setpriv=$(command -v setpriv)
release=$1 cache=$2 releases=$3 current=$4 uid=$5 root=$6
shift 6
hidden=()
while [ "$1" != -- ]; do hidden+=("$1"); shift; done
shift
mount -t tmpfs -o mode=0755 capstan "$root"
for dir in /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc /opt; do
    if [ -L "$dir" ]; then
        ln -s "$(readlink "$dir")" "$root$dir"
    elif [ -d "$dir" ]; then
        mkdir -p "$root$dir"
        mount --rbind "$dir" "$root$dir"
        mount -o remount,bind,ro "$root$dir"
    fi
done
for dir in "${hidden[@]}"; do
    if [ -d "$root$dir" ]; then mount -t tmpfs -o mode=0755 capstan-hidden "$root$dir"; fi
done
mkdir -p "$root/tmp" "$root/proc" "$root/dev"
mount -t tmpfs -o mode=1777 capstan-tmp "$root/tmp"
mkdir -p "$root$releases" "$root$cache"
mount --bind "$releases" "$root$releases"
mount -o remount,bind,ro "$root$releases"
mount --bind "$release" "$root$release"
mount --bind "$cache" "$root$cache"
if [ -n "$current" ]; then ln -s "$current" "$root$(dirname "$releases")/current"; fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 capstan-shm "$root/dev/shm"
cd "$root"
mkdir .old
pivot_root . .old
umount -l /.old
rmdir /.old
cd "$release"
drop=(--no-new-privs --inh-caps=-all --bounding-set=-all)
if [ -n "$uid" ]; then drop+=(--reuid "$uid" --regid "$uid" --clear-groups); fi
PATH=$stage_path "$setpriv" "${drop[@]}" -- "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while :; do
    code=0
    wait "$child" || code=$?
    kill -0 "$child" 2>/dev/null || exit "$code"
done
"""


@dataclasses.dataclass(frozen=True)
class Sandbox:
    kind: str  # "bwrap", "unshare" or "none"
    uid: int | None = None  # Capstan runs as root: stages run as this uid
    hidden: tuple[Path, ...] = ()  # Capstan's own files, hidden even under a system directory
    why: str = ""  # for "none" found by `auto`: why no sandbox works here

    @property
    def isolated(self) -> bool:
        return self.kind != "none"

    async def command(self, argv: list[str], release: Path, cache: Path) -> list[str]:
        """The argv that runs `argv` sandboxed in `release` (which must exist)."""
        await asyncio.to_thread(self._prepare, release, cache)
        if not self.isolated:
            return argv
        releases = release.parent
        current = releases.parent / "current"
        target = os.readlink(current) if current.is_symlink() else ""
        hidden = [str(p) for p in self.hidden if p.is_absolute()]
        # Capstan's death kills the sandbox (bwrap and unshare pass it on to the stage).
        prefix = ["setpriv", "--pdeathsig", "KILL", "--"]
        if self.kind == "bwrap":
            return [*prefix, *self._bwrap(release, cache, target, hidden), *argv]
        user = [] if self.uid is not None else ["--user", "--map-root-user"]
        return [
            *prefix, "unshare", *user, "--mount", "--pid", "--ipc", "--uts", "--fork",
            "--kill-child", "--", "bash", "-c", SETUP, "capstan-sandbox", str(release),
            str(cache), str(releases), target, "" if self.uid is None else str(self.uid),
            str(releases.parent / ".root"),
            *hidden, "--", *argv,
        ]  # fmt: skip

    def _bwrap(self, release: Path, cache: Path, current: str, hidden: list[str]) -> list[str]:
        releases = release.parent
        # As root, bwrap needs no user namespace; setpriv then drops to the sandbox's uid.
        args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--die-with-parent"]
        if self.uid is None:
            args += ["--unshare-user"]
        else:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        for name in SYSTEM_DIRS:
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                args += ["--ro-bind", name, name]
        for path in hidden:
            if os.path.isdir(path) and any(Path(path).is_relative_to(d) for d in SYSTEM_DIRS):
                args += ["--tmpfs", path]
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
        args += ["--perms", "1777", "--tmpfs", "/tmp"]
        # Directories bwrap makes on the way to a bind copy their source's mode, which may
        # be 0700 (the sandbox's uid could not pass): make them 0755 first.
        covered = [Path(p) for p in hidden]
        parents = {a for d in (releases, cache) for a in d.parents} - {Path("/"), Path("/tmp")}
        for parent in sorted(parents):
            inside = any(parent.is_relative_to(h) and parent != h for h in covered)
            if inside or not any(parent.is_relative_to(d) for d in SYSTEM_DIRS):
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(releases), str(releases)]
        args += ["--bind", str(release), str(release), "--bind", str(cache), str(cache)]
        if current:
            args += ["--symlink", current, str(releases.parent / "current")]
        args += ["--chdir", str(release), "--"]
        if self.uid is not None:
            uid = str(self.uid)
            args += ["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                     "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]  # fmt: skip
        return args

    def _prepare(self, release: Path, cache: Path) -> None:
        """Make the cache; as root, give the sandbox's uid the release and the cache."""
        cache.mkdir(parents=True, exist_ok=True)
        (release.parent.parent / ".root").mkdir(exist_ok=True)
        if self.uid is None:
            return
        for top in (release, cache):
            if top.stat().st_uid != self.uid:
                for path in [top, *top.rglob("*")]:
                    os.lchown(path, self.uid, self.uid)


async def detect(choice: str, uid: int, hidden: tuple[Path, ...] = ()) -> Sandbox:
    """The sandbox to use: `choice` ("auto", "bwrap", "unshare" or "none"), checked by
    running `true` inside it. An explicit kind that does not work here stops Capstan."""
    if choice == "none":
        return Sandbox("none")
    if choice not in ("auto", *KINDS):
        raise ConfigError(f"CAPSTAN_SANDBOX: {choice!r} is not auto, bwrap, unshare or none")
    owner = uid if os.geteuid() == 0 else None
    failures = []
    for kind in KINDS if choice == "auto" else (choice,):
        sandbox = Sandbox(kind, owner, hidden)
        problem = await _probe(sandbox)
        if problem is None:
            return sandbox
        failures.append(f"{kind}: {problem}")
    if choice != "auto":
        raise ConfigError(f"CAPSTAN_SANDBOX={choice} does not work here ({failures[0]})")
    return Sandbox("none", why="; ".join(failures))


def _probe_dirs(tmp: Path, release: Path) -> None:
    tmp.chmod(0o755)
    release.mkdir(parents=True)


async def _probe(sandbox: Sandbox) -> str | None:
    """None if a stage can run in `sandbox` here; else what went wrong."""
    if shutil.which(sandbox.kind) is None or shutil.which("setpriv") is None:
        return "not installed"
    with tempfile.TemporaryDirectory(prefix="capstan-probe-") as tmp:
        release, cache = Path(tmp, "releases", "1"), Path(tmp, "cache")
        await asyncio.to_thread(_probe_dirs, Path(tmp), release)
        proc = await asyncio.create_subprocess_exec(
            *await sandbox.command(["true"], release, cache),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), PROBE_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return "timed out"
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exited with {proc.returncode}"
    return None
