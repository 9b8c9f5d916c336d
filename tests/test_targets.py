"""SSH targets against real sshd servers on loopback: shipping releases, target stages,
strategies, health checks and rollback, cancel reaching the remote processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Capstan, Repo, eventually, free_port, sign_in_as_admin
from sshd import Sshd
from test_durability import server_env, start, stop, wait_ready
from test_processes import alive, gone, marker

from app.domain.masker import Masker
from app.domain.pipeline import validate_project
from app.engine import health, store, targets
from app.errors import Invalid
from app.keyring import ssh
from app.keyring.keys import read_keys
from app.keyring.vault import Vault
from app.models import Deployment, HostKey, Project, Target
from app.settings import Settings


async def add_target(capstan: Capstan, project: str, server: Sshd, name: str, path: Path) -> Target:
    """A target row for `server` (its own key, authorized there; its host key trusted)."""
    vault = Vault(*read_keys(capstan.settings))
    row = await Project.get(name=project)
    target_id = uuid.uuid4()
    pair = ssh.generate(f"capstan:{name}")
    server.authorize(pair.public)
    pinned = HostKey.filter(project_id=row.id, host=server.host, port=server.port)
    if not await pinned.exists():
        await HostKey.create(
            project_id=row.id, host=server.host, port=server.port, key=server.host_key,
            fingerprint=ssh.fingerprint(server.host_key), trusted=True,
        )  # fmt: skip
    sealed = vault.encrypt(pair.private, ssh.target_key_purpose(target_id))
    return await Target.create(
        id=target_id, project=row, name=name, host=server.host, port=server.port,
        user=server.user, path=str(path), key=sealed, key_public=pair.public,
    )  # fmt: skip


def current(path: Path) -> str:
    return os.readlink(path / "current")


class Health(BaseHTTPRequestHandler):
    """Answers 200 to GET /health and remembers each request's path."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_connect_uses_the_target_key_and_refuses_a_changed_host_key(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    await capstan.create_project()
    target = await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    vault = Vault(*read_keys(capstan.settings))
    async with await targets.connect(vault, target) as conn:
        result = await conn.run("echo hello", check=True)
    assert result.stdout == "hello\n"
    sshd.rekey()
    with pytest.raises(ssh.HostKeyError, match="changed"):
        await targets.connect(vault, target)


async def test_a_rolling_deployment_reaches_each_host_in_turn_and_ships_only_what_changed(
    capstan: Capstan,
    sshd_pair: tuple[Sshd, Sshd],
    repo: Repo,
    tmp_path: Path,
    health_server: ThreadingHTTPServer,
) -> None:
    repo.commit({"big.txt": "unchanged\n" * 1000})
    stages = [
        {"name": "build", "run": "echo built > built.txt"},
        {"name": "deploy", "run": 'echo "on $CAPSTAN_TARGET: $(cat app.txt) $(cat built.txt)"',
         "on": "targets"},
    ]  # fmt: skip
    url = f"http://{{host}}:{health_server.server_port}/health"
    made = await capstan.create_project(
        repo_url=repo.url, stages=stages, strategy="rolling", batch_size=1, keep_releases=2,
        health_check={"url": url, "retries": 0},
    )  # fmt: skip
    assert made["strategy"] == "rolling" and made["batch_size"] == 1
    assert made["health_check"] == {"url": url, "retries": 0, "timeout": 10, "interval": 2,
                                    "expect_status": 200}  # fmt: skip
    a, b = tmp_path / "a", tmp_path / "b"
    await add_target(capstan, "web", sshd_pair[0], "web-1", a)
    await add_target(capstan, "web", sshd_pair[1], "web-2", b)
    first = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    release = first["release"]
    assert current(a) == current(b) == release
    assert (a / "current/built.txt").read_text() == "built\n"
    log = await capstan.log(first["id"])
    assert "[web-1] on web-1: v1 built" in log and "[web-2] on web-2: v1 built" in log
    assert (
        log.index("batch 1 of 2: web-1")
        < log.index("[web-1] on web-1")
        < log.index("web-1: current -> ")
        < log.index("batch 2 of 2: web-2")
        < log.index("[web-2] on web-2")
    )
    assert [t["status"] for t in first["targets"]] == ["healthy", "healthy"]
    assert (
        log.index("web-1: current -> ")
        < log.index("health check on web-1 passed")
        < log.index("batch 2 of 2")
    )
    assert Health.seen[:2] == ["/health", "/health"]

    repo.commit({"app.txt": "v2\n"})
    second = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert current(a) == current(b) == second["release"]
    assert (a / "current/app.txt").read_text() == "v2\n"
    old, new = a / release, a / second["release"]
    assert (old / "big.txt").stat().st_ino == (new / "big.txt").stat().st_ino
    assert (old / "app.txt").stat().st_ino != (new / "app.txt").stat().st_ino
    assert [t["previous"] for t in second["targets"]] == [Path(release).name] * 2
    rows = await Target.filter(name__in=["web-1", "web-2"]).order_by("name")
    assert [t.current_release for t in rows] == [second["release"]] * 2

    response = await capstan.http.post("/api/v1/projects/web/rollback")
    assert response.status_code == 202, response.text
    back = await capstan.wait_for(response.json()["id"], "COMPLETED")
    assert current(a) == current(b) == release
    assert [t["previous"] for t in back["targets"]] == [Path(second["release"]).name] * 2
    rows = await Target.filter(name__in=["web-1", "web-2"]).order_by("name")
    assert [t.current_release for t in rows] == [release] * 2


async def two_targets(
    capstan: Capstan, servers: tuple[Sshd, Sshd], tmp_path: Path, **fields: Any
) -> tuple[Path, Path]:
    await capstan.create_project("web", **fields)
    a, b = tmp_path / "a", tmp_path / "b"
    await add_target(capstan, "web", servers[0], "web-1", a)
    await add_target(capstan, "web", servers[1], "web-2", b)
    return a, b


@pytest.mark.parametrize("strategy", ["all", "rolling"])
async def test_a_failed_health_check_rolls_every_switched_host_back_and_runs_on_rollback(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], tmp_path: Path, strategy: str
) -> None:
    """`all`: both hosts switch, web-2 fails its check. `rolling`: web-1 switches and passes,
    then web-2 (the second batch) fails: web-1 is rolled back too."""
    deploy = {"name": "deploy", "run": "echo deployed", "on": "targets"}
    on_rollback = 'echo "restored $(basename "$(pwd -P)") on $CAPSTAN_TARGET" | tee restored.txt'
    a, b = await two_targets(
        capstan, sshd_pair, tmp_path, stages=[deploy], strategy=strategy, on_rollback=on_rollback
    )
    good = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    check = {"command": 'test "$CAPSTAN_TARGET" != web-2', "retries": 1, "interval": 1}
    changed = await capstan.http.patch("/api/v1/projects/web", json={"health_check": check})
    assert changed.json()["health_check"] == {**check, "timeout": 10}

    bad = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    assert bad["error"] == (
        "health check failed on web-2: the command exited with code 1; rolled back web-1, web-2"
    )
    assert current(a) == current(b) == good["release"]
    assert [t["status"] for t in bad["targets"]] == ["rolled_back", "rolled_back"]
    name = Path(good["release"]).name
    assert (a / "current/restored.txt").read_text() == f"restored {name} on web-1\n"
    assert (b / "current/restored.txt").read_text() == f"restored {name} on web-2\n"
    log = await capstan.log(bad["id"])
    assert "health check on web-2 failed: the command exited with code 1 (attempt 1 of 2)" in log
    assert log.index("rolling back web-1, web-2") < log.index(f"[web-2] restored {name} on web-2")
    rows = {t.name: t for t in await Target.all()}
    assert rows["web-1"].health["ok"] is True and rows["web-2"].health["ok"] is False  # type: ignore[index]
    assert rows["web-2"].current_release == good["release"]
    if strategy == "rolling":
        assert log.index("health check on web-1 passed") < log.index("batch 2 of 2: web-2")
        return

    stage = {**deploy, "run": 'test "$CAPSTAN_TARGET" != web-1'}
    await capstan.http.patch("/api/v1/projects/web", json={"stages": [stage]})
    early = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    assert early["error"] == "stage deploy on web-1 exited with code 1"
    assert current(a) == current(b) == good["release"]
    assert [t["status"] for t in early["targets"]] == ["failed", "shipped"]


async def test_stages_on_targets_are_skipped_when_the_project_has_none(capstan: Capstan) -> None:
    stages = [{"name": "build", "run": "echo built"},
              {"name": "deploy", "run": "exit 1", "on": "targets"}]  # fmt: skip
    await capstan.create_project(stages=stages)
    done = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert [s["status"] for s in done["stages"]] == ["succeeded", "skipped"]
    assert done["targets"] is None
    log = await capstan.log(done["id"])
    assert "[capstan] no targets: skipping the stages on targets (deploy)" in log


async def test_a_url_health_check_fails_on_an_unexpected_status_after_its_retries(
    health_server: ThreadingHTTPServer,
) -> None:
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    async def output(data: bytes) -> None:
        raise AssertionError("a url check prints nothing")

    host = targets.Host(Target(name="web-1", host="127.0.0.1"), None, "", "")  # type: ignore[arg-type]
    spec = {"url": f"http://{{host}}:{health_server.server_port}/missing", "timeout": 5,
            "retries": 1, "interval": 1, "expect_status": 200}  # fmt: skip
    failure = await health.check(
        spec, host, env={}, grace=1, on_output=output, masker=Masker(), say=say
    )
    assert failure == "expected 200, got 404"
    assert said == ["health check on web-1 failed: expected 200, got 404 (attempt 1 of 2); "
                    "again in 1 s"]  # fmt: skip
    spec["url"] = f"http://{{host}}:{free_port()}/health"
    failure = await health.check({**spec, "retries": 0}, host, env={}, grace=1,
                                 on_output=output, masker=Masker(), say=say)  # fmt: skip
    assert failure is not None and failure.startswith("GET http://127.0.0.1:")


class Health6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


async def test_a_url_health_check_reaches_an_ipv6_target_and_a_url_httpx_refuses_fails_it() -> None:
    server = Health6(("::1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    async def output(data: bytes) -> None:
        raise AssertionError("a url check prints nothing")

    try:
        host = targets.Host(Target(name="web-1", host="::1"), None, "", "")  # type: ignore[arg-type]
        port = server.server_address[1]
        spec = {"url": f"http://{{host}}:{port}/health", "timeout": 5, "retries": 0,
                "interval": 1, "expect_status": 200}  # fmt: skip
        assert (
            await health.check(
                spec, host, env={}, grace=1, on_output=output, masker=Masker(), say=say
            )
            is None
        )
        assert said == ["health check on web-1 passed"]
        spec["url"] = f"http://[{{host}}]:{port}/health"  # http://[[::1]]:...: InvalidURL
        failure = await health.check(
            spec, host, env={}, grace=1, on_output=output, masker=Masker(), say=say
        )
        assert failure == (
            f"GET http://[[::1]]:{port}/health failed: Invalid IPv6 address: '[[::1]]'"
        )
    finally:
        server.shutdown()
        server.server_close()


async def test_a_stage_whose_connection_dropped_is_retried_over_a_new_one(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    flag = tmp_path / "dropped"
    # The launcher's parent is the connection's sshd process: killing it drops the connection.
    token = marker()
    run = (f"if [ ! -f {flag} ]; then touch {flag}; kill -9 $(ps -o ppid= -p $PPID); "
           f"sleep {token}; fi; echo second attempt")  # fmt: skip
    stage = {"name": "deploy", "run": run, "on": "targets", "retries": 1}
    await capstan.create_project(stages=[stage])
    await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    done = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    log = await capstan.log(done["id"])
    assert "stage deploy on web-1 failed: web-1: " in log and "attempt 2 in 1 s" in log
    assert "[web-1] second attempt" in log and "==> deploy (attempt 2)" in log
    assert done["stages"][0]["attempt"] == 2
    assert alive(token) == []  # the first attempt, left running on the host, was stopped


async def rolling_until_web_2_runs(
    capstan: Capstan, servers: tuple[Sshd, Sshd], tmp_path: Path
) -> tuple[dict[str, Any], Path, str]:
    """A first rolling deployment (one host a batch) caught with web-1 switched and healthy
    and the stage running on web-2: the deployment, web-1's path, web-2's `sleep` token."""
    token = marker()
    run = f'if [ "$CAPSTAN_TARGET" = web-2 ]; then sleep {token}; fi'
    stages = [{"name": "deploy", "run": run, "on": "targets"}]
    a, _ = await two_targets(capstan, servers, tmp_path, stages=stages, strategy="rolling")
    dep = await capstan.trigger()

    async def sleeping() -> bool:  # (web-1's launcher has the token in its arguments too)
        return bool(_sleepers(token))

    await eventually(sleeping, timeout=20)
    assert current(a) == (await capstan.deployment(dep["id"]))["release"]
    return dep, a, token


async def test_a_cancel_after_a_switch_leaves_the_host_on_the_new_release_and_says_so(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], tmp_path: Path
) -> None:
    dep, a, token = await rolling_until_web_2_runs(capstan, sshd_pair, tmp_path)
    cancelled = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    await eventually(lambda: gone(token), timeout=8)
    listed = (await capstan.http.get("/api/v1/projects/web/targets")).json()["targets"]
    release = cancelled.json()["release"]
    assert current(a) == release
    assert [(t["name"], t["current_release"]) for t in listed] == [("web-1", release),
                                                                  ("web-2", None)]  # fmt: skip


async def test_a_resumed_run_that_cannot_reach_a_host_rolls_back_the_hosts_it_switched(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], tmp_path: Path
) -> None:
    """The worker is lost (another takes its expired lease over) while web-2 runs its stage;
    web-2 is down when the run resumes: web-1, switched before, is switched back."""
    dep, a, token = await rolling_until_web_2_runs(capstan, sshd_pair, tmp_path)
    sshd_pair[1].stop()  # the connection open to it lives on, a new one is refused
    row = await Deployment.get(id=dep["id"])
    await store.save(row, lease_holder="a-worker-that-died", lease_expires=store.now())
    failed = await capstan.wait_for(dep["id"], "FAILED")
    assert failed["error"].startswith("cannot connect to web-2: ")
    assert failed["error"].endswith("; rolled back web-1")
    assert not (a / "current").exists()  # its first release: there was none before
    assert [t["status"] for t in failed["targets"]] == ["rolled_back", "shipped"]
    assert (await Target.get(name="web-1")).current_release is None
    await eventually(lambda: gone(token), timeout=8)


async def test_an_internal_error_after_a_switch_rolls_the_switched_hosts_back(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], tmp_path: Path
) -> None:
    """web-1's health check (run on this machine) leaves a file where Capstan makes its key
    files: shipping to web-2 then fails with an OSError, not a TargetError."""
    scratch = ssh.scratch(capstan.settings.data_dir)
    command = f'[ "$CAPSTAN_TARGET" != web-1 ] || {{ rm -rf {scratch}; touch {scratch}; }}'
    check = {"command": command, "retries": 0}
    a, b = await two_targets(capstan, sshd_pair, tmp_path, strategy="rolling", health_check=check)
    failed = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    assert failed["error"].startswith("internal error: [Errno 17] File exists")
    assert failed["error"].endswith("; rolled back web-1")
    assert not (a / "current").exists() and not (b / "current").exists()
    assert [t["status"] for t in failed["targets"]] == ["rolled_back", "pending"]


def test_a_long_remote_line_is_cut_where_no_secret_straddles_the_cut() -> None:
    """A line longer than MAX_LINE goes out in labelled pieces; a secret arriving across the
    place it would be cut stays whole in one piece, for the sink to mask."""
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    written: list[bytes] = []

    async def write(data: bytes) -> None:
        written.append(data)

    async def feed() -> None:
        lines = targets.Lines("web-1", write, Masker([secret]))
        await lines.feed(b"x" * (targets.MAX_LINE - 5) + secret[:10].encode())
        await lines.feed(secret[10:].encode() + b" and on\n")
        await lines.close()

    asyncio.run(feed())
    log = Masker([secret]).mask(b"".join(written).decode())
    assert secret[:10] not in log and secret[10:] not in log
    pieces = log.split("\n")
    assert pieces[0].startswith("[web-1] xxx") and pieces[1].endswith("[MASKED] and on")
    assert "".join(p.removeprefix("[web-1] ") for p in pieces) == (
        "x" * (targets.MAX_LINE - 5) + "[MASKED] and on"
    )


async def test_cancel_mid_remote_stage_leaves_nothing_running_on_the_target(
    capstan: Capstan, sshd_pair: tuple[Sshd, Sshd], tmp_path: Path
) -> None:
    token = marker()  # sleep's argument: in the command line of every process of the stage
    script = f"trap '' TERM; sleep {token} & sleep {token} & wait"  # deaf to TERM
    stages = [{"name": "serve", "run": script, "on": "targets"}]
    await two_targets(capstan, sshd_pair, tmp_path, stages=stages)
    dep = await capstan.trigger()

    async def running() -> bool:
        return (
            len([p for p in alive(token) if _read(Path(f"/proc/{p}/cmdline")).startswith(b"sleep")])
            == 4
        )

    await eventually(running, timeout=15)
    response = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert response.json()["status"] == "CANCELLED"
    await eventually(lambda: gone(token), timeout=8)


async def test_a_changed_host_key_refuses_the_deployment(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    await capstan.create_project(stages=[{"name": "deploy", "run": "true", "on": "targets"}])
    await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    sshd.rekey()
    failed = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    assert failed["error"].startswith(f"web-1: the host key of [127.0.0.1]:{sshd.port} changed")
    assert "refusing to connect" in failed["error"]
    assert not (tmp_path / "srv").exists()


async def test_secrets_reach_a_remote_stage_by_its_environment_never_its_command_line(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    token = marker()
    # (the masker holds back a tail as long as a secret until more output comes)
    run = f'echo "token: $API_TOKEN"; printf "%0100d\\n" 0; sleep {token}'
    await capstan.create_project(stages=[{"name": "deploy", "run": run, "on": "targets"}])
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    put = await capstan.http.put("/api/v1/projects/web/secrets/API_TOKEN", json={"value": secret})
    assert put.is_success
    await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    dep = await capstan.trigger()

    async def running() -> bool:
        return bool(_sleepers(token))

    await eventually(running, timeout=15)
    assert alive(secret) == []
    sleeper = _sleepers(token)[0]
    assert f"API_TOKEN={secret}".encode() in _read(sleeper / "environ").split(b"\0")

    async def logged() -> bool:
        return "[web-1] token: [MASKED]" in await capstan.log(dep["id"])

    await eventually(logged, timeout=10)
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert secret not in await capstan.log(dep["id"])


def _sleepers(token: str) -> list[Path]:
    """/proc entries of the live `sleep TOKEN` processes."""
    return [
        Path(f"/proc/{pid}")
        for pid in alive(token)
        if _read(Path(f"/proc/{pid}/cmdline")) == f"sleep\0{token}\0".encode()
    ]


def _read(path: Path) -> bytes:
    with contextlib.suppress(OSError):
        return path.read_bytes()
    return b""


async def test_a_remote_stage_that_times_out_fails_and_is_stopped_on_the_target(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    token = marker()
    stage = {"name": "serve", "run": f"sleep {token}", "on": "targets", "timeout": 1}
    await capstan.create_project(stages=[stage])
    await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    failed = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    assert failed["error"] == "stage serve on web-1 timed out after 1 s"
    assert failed["stages"][0]["status"] == "failed"
    assert alive(token) == []


async def test_prune_keeps_the_newest_releases_and_the_current_one_on_a_target(
    capstan: Capstan, sshd: Sshd, tmp_path: Path
) -> None:
    await capstan.create_project()
    target = await add_target(capstan, "web", sshd, "web-1", tmp_path / "srv")
    for name in ("1-a", "2-b", "3-c", "10-d", "odd"):
        (tmp_path / "srv/releases" / name / "sub").mkdir(parents=True)
    os.mkdir(bytes(tmp_path / "srv/releases") + b"/0-\xff")  # names need not be UTF-8
    os.symlink("releases/2-b", tmp_path / "srv/current")
    host = await targets.open_host(Vault(*read_keys(capstan.settings)), target)
    try:
        assert await targets.prepare(host) == "2-b"
        assert await targets.releases(host) == ["10-d", "3-c", "2-b", "1-a", "0-\ufffd", "odd"]
        assert sorted(await targets.prune(host, 1, {"3-c"})) == ["0-\ufffd", "1-a", "odd"]
    finally:
        host.close()
    assert sorted(p.name for p in (tmp_path / "srv/releases").iterdir()) == ["10-d", "2-b", "3-c"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"stages": [{"name": "a", "run": "x", "on": "targets"}, {"name": "b", "run": "y"}]},
         "stages[1].on"),
        ({"stages": [{"name": "a", "approval": True, "on": "targets"}]}, "stages[0].on"),
        ({"stages": [{"name": "a", "run": "x", "on": "elsewhere"}]}, "stages[0].on"),
        ({"strategy": "some"}, "strategy"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 101}, "batch_size"),
        ({"health_check": {"url": "ftp://{host}/"}}, "health_check.url"),
        ({"health_check": {"url": "http://{host}:99999/"}}, "health_check.url"),
        ({"health_check": {"url": "http://[::1/"}}, "health_check.url"),
        ({"health_check": {"url": "http://{host}/\n"}}, "health_check.url"),
        ({"health_check": {"url": "http://{host}/", "command": "true"}}, "health_check"),
        ({"health_check": {"command": "true", "expect_status": 200}},
         "health_check.expect_status"),
        ({"health_check": {"command": "true", "timeout": 301}}, "health_check.timeout"),
        ({"health_check": {"command": "true", "retries": 21}}, "health_check.retries"),
        ({"health_check": {"command": "true", "interval": 0}}, "health_check.interval"),
        ({"health_check": {"command": "true", "extra": 1}}, "health_check.extra"),
    ],
)  # fmt: skip
def test_target_fields_of_a_project_are_checked(fields: dict[str, object], field: str) -> None:
    with pytest.raises(Invalid) as refused:
        validate_project({"name": "web", "stages": [{"name": "a", "run": "x"}], **fields},
                         create=True)  # fmt: skip
    assert refused.value.field == field


def test_target_fields_have_defaults_and_old_stages_stay_local() -> None:
    made = validate_project(
        {"name": "web", "stages": [{"name": "a", "run": "x"}, {"name": "b", "run": "y",
         "on": "targets"}], "health_check": {"url": "https://{host}/up"}}, create=True,
    )  # fmt: skip
    assert made["strategy"] == "all" and made["batch_size"] == 1
    assert made["health_check"] == {
        "url": "https://{host}/up", "timeout": 10, "retries": 3, "interval": 2,
        "expect_status": 200,
    }  # fmt: skip
    assert made["stages"][1]["on"] == "targets" and "on" not in made["stages"][0]


async def test_a_run_resumed_after_its_server_died_stops_the_lost_remote_stage_and_runs_it_again(
    settings: Settings, sshd: Sshd, tmp_path: Path
) -> None:
    """A real `capstan serve` killed with SIGKILL mid-remote-stage: the stage's processes on the
    target outlive it (no pid namespace there); the restarted server stops them by the
    deployment's id in their environment, then runs the stage again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(settings, CAPSTAN_PORT=str(port), CAPSTAN_SINGLE_TEAM="1",
                     CAPSTAN_DATABASE_URL=settings.database_url,
                     CAPSTAN_REDIS_URL=settings.redis_url)  # fmt: skip
    token, flag = marker(), tmp_path / "crashed"
    script = f"if [ -f {flag} ]; then echo second run; else touch {flag}; sleep {token}; fi"
    log = tmp_path / "serve.log"
    proc = start(["serve"], env, log)
    try:
        await wait_ready(url, proc, log)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await sign_in_as_admin(http, settings.data_dir)
            capstan = Capstan(settings, http)
            await capstan.create_project(stages=[{"name": "serve", "run": script, "on": "targets"}])
            made = await http.post("/api/v1/projects/web/targets", json={
                "name": "web-1", "host": sshd.host, "port": sshd.port, "user": sshd.user,
                "path": str(tmp_path / "srv")})  # fmt: skip
            assert made.status_code == 201, made.text
            sshd.authorize(made.json()["public_key"])
            pinned = await http.post("/api/v1/projects/web/host-keys",
                                     json={"known_hosts": sshd.known_hosts})  # fmt: skip
            assert pinned.is_success, pinned.text
            dep = await capstan.trigger()
            await eventually(lambda: _running(token), timeout=20)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert alive(token), "without a pid namespace the remote stage outlives the server"
            proc = start(["serve"], env, log)
            await wait_ready(url, proc, log)
            done = await capstan.wait_for(dep["id"], "COMPLETED", timeout=60)
            assert alive(token) == []
            text = await capstan.log(dep["id"])
            assert "stage serve on targets was interrupted; running it again" in text
            assert "[web-1] second run" in text
            assert done["targets"][0]["status"] == "healthy"
    finally:
        stop(proc)


async def _running(token: str) -> bool:
    return bool(alive(token))
