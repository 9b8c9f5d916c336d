"""Soak: rounds of concurrent signed GitHub pushes to several projects while SSE log viewers
connect and hang up mid-stream, on embedded defaults (SQLite, bundled Redis), or on a fresh
PostgreSQL database with `--postgres URL` (a server URL whose user may create databases).

Some pushes fail at checkout (commits that do not exist; one project's repository is gone);
every third round sends one delivery `--pushes` times. After each round `/readyz` must answer
200 within `--ready-within` seconds, or the server is wedged and the rounds stop. Then every
accepted deployment must end, each stage having run once, its log holding each line once.

Prints rounds, pushes, push response p50/p99, `/readyz` latency, deployments completed and
failed, and every error, and exits 1 if there was any. Goal: no errors.

    .venv/bin/python bench/soak.py --rounds 60 --projects 8
    .venv/bin/python bench/soak.py --postgres postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import capstan_server, percentile

BUILD = 'echo "build 1 $CAPSTAN_DEPLOYMENT_ID"; echo "build 2"; echo "build 3"'
RELEASE = 'echo "release 1 $CAPSTAN_COMMIT"; echo "release 2"'
STAGES = [{"name": "build", "run": BUILD}, {"name": "release", "run": RELEASE}]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "ROLLED_BACK"}
GONE = "gone"
ANSWER_WITHIN = 15.0


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--projects", type=int, default=6, help="one of them has no repository")
    parser.add_argument("--pushes", type=int, default=10, help="concurrent pushes per round")
    parser.add_argument("--viewers", type=int, default=6, help="concurrent SSE log viewers")
    parser.add_argument("--ready-within", type=float, default=5.0)
    parser.add_argument("--drain-within", type=float, default=300.0)
    parser.add_argument("--postgres", default="", help="run on a new database of this server")
    parser.add_argument("--seed", type=int, default=8)
    return parser.parse_args()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}  # fmt: skip
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def commit(repo: Path, text: str) -> str:
    (repo / "app.txt").write_text(text + "\n")
    git(repo, "commit", "-q", "-am", text)
    return git(repo, "rev-parse", "HEAD")


def repositories(root: Path, names: list[str]) -> dict[str, Path]:
    """A repository per project; the one of GONE is removed at once."""
    repos = {}
    for name in [*names, GONE]:
        path = root / name
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        (path / "app.txt").write_text("first\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "first")
        repos[name] = path
    shutil.rmtree(repos[GONE])
    return repos


@dataclasses.dataclass
class Push:
    project: str
    delivery: str
    commit: str
    deployable: bool
    status: int | None = None
    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def deployment(self) -> str | None:
        dep = self.answer.get("deployment") if self.status == 202 else None
        return str(dep) if dep else None


@dataclasses.dataclass
class Soak:
    args: argparse.Namespace
    http: httpx.AsyncClient
    viewer_http: httpx.AsyncClient
    repos: dict[str, Path]
    secrets: dict[str, str]
    rng: random.Random
    pushes: list[Push] = dataclasses.field(default_factory=list)
    accepted: list[str] = dataclasses.field(default_factory=list)
    ready_seconds: list[float] = dataclasses.field(default_factory=list)
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    examples: dict[str, str] = dataclasses.field(default_factory=dict)
    views: int = 0
    rounds: int = 0
    finished: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def error(self, kind: str, example: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, example[:600])

    def plan(self, round_no: int) -> list[Push]:
        good = [name for name in self.repos if name != GONE]
        tips = {name: commit(self.repos[name], f"round {round_no}") for name in good}
        if round_no % 3 == 2:
            name = good[round_no % len(good)]
            copy = Push(name, f"r{round_no}-dup", tips[name], True)
            return [dataclasses.replace(copy) for _ in range(self.args.pushes)]
        plan = []
        for i in range(self.args.pushes):
            name, delivery = list(self.repos)[i % len(self.repos)], f"r{round_no}-{i}"
            if name == GONE or self.rng.random() < 0.15:
                plan.append(Push(name, delivery, uuid.uuid4().hex + "0" * 8, False))
            else:
                plan.append(Push(name, delivery, tips[name], True))
        return plan

    async def send(self, push: Push) -> Push:
        body = json.dumps({
            "ref": "refs/heads/main", "before": "0" * 40, "after": push.commit,
            "head_commit": {"id": push.commit, "modified": ["app.txt"]},
            "commits": [{"id": push.commit, "added": [], "removed": [], "modified": ["app.txt"]}],
            "pusher": {"name": "bench"}, "repository": {"full_name": f"bench/{push.project}"},
        }).encode()  # fmt: skip
        signature = hmac.new(self.secrets[push.project].encode(), body, hashlib.sha256)
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": push.delivery,
            "X-Hub-Signature-256": f"sha256={signature.hexdigest()}",
            "Content-Type": "application/json",
        }
        began = time.perf_counter()
        try:
            response = await self.http.post(
                f"/hooks/github/{push.project}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            self.error("push unanswered", f"{push.delivery}: {exc!r}")
            return push
        push.seconds = time.perf_counter() - began
        push.status = response.status_code
        with contextlib.suppress(ValueError):
            push.answer = response.json()
        if push.deployment:
            self.accepted.append(push.deployment)
        elif (push.deployable and push.status == 202) or push.status not in (200, 202):
            self.error(f"push answered {push.status}", f"{push.delivery}: {push.answer}")
        return push

    async def round(self, round_no: int) -> bool:
        """One burst of pushes, then `/readyz`; False when the server did not come back."""
        sent = await asyncio.gather(*map(self.send, self.plan(round_no)))
        self.pushes += sent
        if len({p.delivery for p in sent}) == 1:
            made = {p.deployment for p in sent if p.deployment}
            if len(made) != 1:
                self.error("copies of one delivery made != 1 deployment", f"{made}")
        began = time.monotonic()
        while time.monotonic() - began < self.args.ready_within:
            with contextlib.suppress(httpx.HTTPError):
                response = await self.http.get("/readyz", timeout=self.args.ready_within)
                if response.status_code == 200:
                    self.ready_seconds.append(time.monotonic() - began)
                    return True
            await asyncio.sleep(0.1)
        self.error("wedged", f"/readyz not 200 {self.args.ready_within} s after round {round_no}")
        return False

    async def watch(self, stop: asyncio.Event) -> None:
        """Open a recent deployment's SSE log, read a moment, hang up; again."""
        rng = random.Random(self.rng.random())
        while not stop.is_set():
            if not self.accepted:
                await asyncio.sleep(0.05)
                continue
            dep_id = rng.choice(self.accepted[-20:])
            request = self.viewer_http.build_request(
                "GET", f"/api/v1/deployments/{dep_id}/logs", headers={"Accept": "text/event-stream"}
            )
            self.views += 1
            try:
                async with asyncio.timeout(ANSWER_WITHIN):
                    response = await self.viewer_http.send(request, stream=True)
            except (TimeoutError, httpx.HTTPError) as exc:
                self.error("log viewer unanswered", f"{dep_id}: {exc!r}")
                continue
            try:
                if response.status_code != 200:
                    self.error(f"log viewer got {response.status_code}", dep_id)
                with contextlib.suppress(TimeoutError, httpx.HTTPError):
                    async with asyncio.timeout(rng.uniform(0.05, 1.0)):
                        async for chunk in response.aiter_raw():
                            if b"event: done" in chunk:
                                break
            finally:
                await response.aclose()

    async def drain(self) -> dict[str, dict[str, Any]]:
        """The accepted deployments, once all are terminal (or --drain-within passed)."""
        deadline = time.monotonic() + self.args.drain_within
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(set(self.accepted)) and time.monotonic() < deadline:
            for dep_id in [d for d in dict.fromkeys(self.accepted) if d not in done]:
                try:
                    dep = (await self.http.get(f"/api/v1/deployments/{dep_id}")).json()
                except httpx.HTTPError as exc:
                    self.error("API unanswered while draining", f"{dep_id}: {exc!r}")
                    return done
                if dep["status"] in TERMINAL:
                    done[dep_id] = dep
            await asyncio.sleep(0.5)
        stuck = len(set(self.accepted)) - len(done)
        if stuck:
            self.error("deployments not terminal", f"{stuck} after {self.args.drain_within} s")
        return done

    async def check(self, finished: dict[str, dict[str, Any]]) -> None:
        """Each stage ran once and each line was logged once; bad commits failed at checkout."""
        by_deployment = {p.deployment: p for p in self.pushes if p.deployment}
        for dep_id, dep in finished.items():
            push = by_deployment[dep_id]
            try:
                text = (await self.http.get(f"/api/v1/deployments/{dep_id}/logs?follow=0")).text
            except httpx.HTTPError as exc:
                self.error("API unanswered while checking", f"{dep_id}: {exc!r}")
                return
            lines = collections.Counter(text.splitlines())
            checkouts = sum(n for k, n in lines.items() if k.startswith("[capstan] checking out"))
            if checkouts != 1:
                self.error(f"checked out {checkouts} times", f"{dep_id}: {text[:400]!r}")
            expected = "COMPLETED" if push.deployable else "FAILED"
            if dep["status"] != expected:
                self.error(f"{dep['status']}, not {expected}", f"{dep_id}: {dep['error']}")
            ran = [s["attempt"] for s in dep["stages"]]
            if ran != ([1] * len(ran) if push.deployable else [0] * len(ran)):
                self.error("a stage ran more than once, or after a failed checkout", f"{dep}")
            if push.deployable:
                once = [f"build 1 {dep_id}", "build 2", "build 3"]
                once += [f"release 1 {dep['commit']}", "release 2"]
                once += ["==> build (attempt 1)", "==> release (attempt 1)"]
                if any(lines[line] != 1 for line in once):
                    self.error("log lines missing or doubled", f"{dep_id}: {text[:400]!r}")


async def soak(args: argparse.Namespace, url: str, headers: dict[str, str], tmp: Path) -> Soak:
    rng = random.Random(args.seed)
    names = [f"p{n}" for n in range(args.projects - 1)]
    repos = repositories(tmp / "repos", names)
    limits = httpx.Limits(max_connections=args.pushes + 20)
    async with (
        httpx.AsyncClient(
            base_url=url, headers=headers, timeout=ANSWER_WITHIN, limits=limits
        ) as http,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=ANSWER_WITHIN) as viewer_http,
    ):
        secrets = {}
        for name, path in repos.items():
            project = {"name": name, "repo_url": str(path), "stages": STAGES}
            created = await http.post("/api/v1/projects", json=project)
            created.raise_for_status()
            secrets[name] = created.json()["webhook_secret"]
        run = Soak(args, http, viewer_http, repos, secrets, rng)
        stop = asyncio.Event()
        viewers = [asyncio.create_task(run.watch(stop)) for _ in range(args.viewers)]
        began = time.monotonic()
        try:
            while run.rounds < args.rounds and await run.round(run.rounds):
                run.rounds += 1
            if not run.errors["wedged"]:
                run.finished = await run.drain()
        finally:
            stop.set()
            await asyncio.gather(*viewers)
        run.seconds = time.monotonic() - began
        await run.check(run.finished)
    return run


def report(run: Soak) -> None:
    rounds, finished, seconds = run.rounds, run.finished, run.seconds
    ms = [p.seconds * 1000 for p in run.pushes if p.status is not None]
    ready = [s * 1000 for s in run.ready_seconds] or [0.0]
    outcomes = collections.Counter(d["status"] for d in finished.values())
    accepted = len(set(run.accepted))
    duplicates = sum(1 for p in run.pushes if p.status == 200 and p.answer.get("duplicate"))
    ignored = sum(1 for p in run.pushes if p.status == 202 and "ignored" in p.answer)
    print(
        f"soak: {rounds} of {run.args.rounds} rounds of {run.args.pushes} concurrent signed "
        f"pushes to {len(run.repos)} projects, {run.args.viewers} log viewers, {seconds:.0f} s"
    )
    print(
        f"  pushes: {len(run.pushes)} sent, {accepted} deployed, {duplicates} duplicates, "
        f"{ignored} ignored"
    )
    if ms:
        print(
            f"  push response: p50 {percentile(ms, 50):.0f} ms  p99 {percentile(ms, 99):.0f} ms"
            f"  max {max(ms):.0f} ms"
        )
    print(f"  /readyz after a round: p50 {percentile(ready, 50):.0f} ms  max {max(ready):.0f} ms")
    if run.errors["wedged"]:
        print(f"  deployments: not drained, the server is wedged; {run.views} log views")
    else:
        print(
            f"  deployments: {outcomes['COMPLETED']} completed, {outcomes['FAILED']} failed "
            f"(at checkout, as pushed), {accepted - len(finished)} not finished; "
            f"{run.views} log views"
        )
    print(f"  errors: {sum(run.errors.values())}")
    for kind, count in run.errors.most_common():
        print(f"    {count} x {kind}; e.g. {run.examples[kind]}")


def scan(log: Path, run: Soak) -> None:
    for line in log.read_text(errors="replace").splitlines():
        for needle in ("IntegrityError", "Traceback"):
            if needle in line:
                run.error(f"server log: {needle}", line[-500:])


async def _pg(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def database(server_url: str) -> Iterator[dict[str, str]]:
    """Server settings for a new PostgreSQL database, dropped afterwards (none: SQLite)."""
    if not server_url:
        yield {}
        return
    name = f"capstan_soak_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield {"CAPSTAN_DATABASE_URL": f"{server_url.rpartition('/')[0]}/{name}"}
    finally:
        asyncio.run(_pg(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    args = options()
    with (
        database(args.postgres) as env,
        capstan_server(**env) as server,
        tempfile.TemporaryDirectory(prefix="capstan-soak-") as tmp,
    ):
        run = asyncio.run(soak(args, server.url, server.headers, Path(tmp)))
        scan(server.data_dir.parent / "serve.log", run)
        report(run)
    sys.exit(1 if run.errors else 0)


if __name__ == "__main__":
    main()
