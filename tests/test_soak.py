"""Soak: rounds of concurrent signed pushes to several projects, some of whose commits fail at
checkout, while log viewers connect and hang up mid-stream, against a real `capstan serve`.

After every round `/readyz` answers 200 within seconds; in the end every accepted push is one
deployment that ran each stage once (or failed at checkout without running any), ten copies
of one delivery made one deployment, and the server's log has no IntegrityError and no
traceback. A wedge fails the test within seconds instead of hanging it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import random
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from conftest import Repo, free_port, git, sign_in_as_admin
from payloads import body_of, github_headers, github_push
from test_durability import server_env, start, stop, wait_ready

from app.settings import Settings

ROUNDS = 10
PUSHES_PER_ROUND = 10
DUPLICATE_EVERY = 3  # every third round sends ten copies of one delivery
VIEWERS = 4
GOOD = ("alpha", "beta", "gamma")
GONE = "gone"  # its repository was removed: each of its deployments fails at checkout
ANSWER_WITHIN = 15.0  # a request without an answer by then is a hang
READY_WITHIN = 5.0
DRAIN_WITHIN = 60.0
BUILD = 'echo "build 1 $CAPSTAN_DEPLOYMENT_ID"; echo "build 2"; echo "build 3"'
RELEASE = 'echo "release 1 $CAPSTAN_COMMIT"; echo "release 2"'
STAGES = [{"name": "build", "run": BUILD}, {"name": "release", "run": RELEASE}]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "ROLLED_BACK"}


@dataclasses.dataclass
class Push:
    project: str
    delivery: str
    commit: str
    deployable: bool  # the commit exists in a reachable repository
    status: int | None = None
    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    @property
    def deployment(self) -> str | None:
        dep = self.answer.get("deployment") if self.status == 202 else None
        return str(dep) if dep else None


@dataclasses.dataclass
class Soak:
    http: httpx.AsyncClient  # pushes, /readyz, the API
    viewer_http: httpx.AsyncClient  # log viewers, on connections of their own
    log: Path
    secrets: dict[str, str]
    repos: dict[str, Repo]
    accepted: list[str] = dataclasses.field(default_factory=list)
    viewer_problems: list[str] = dataclasses.field(default_factory=list)
    views: int = 0

    def server_log(self) -> str:
        """The server log's last warnings and errors, and its last line."""
        lines = self.log.read_text(errors="replace").splitlines()
        loud = [line for line in lines if '"level": "info"' not in line]
        return "\n".join([*loud[-8:], "last line:", *lines[-1:]])[-6000:]

    async def wedged(self, what: str) -> AssertionError:
        """A failure naming what hung, what `/readyz` says now, and the server's log."""
        try:
            response = await self.http.get("/readyz", timeout=READY_WITHIN)
            ready = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            ready = repr(exc)
        return AssertionError(f"{what}\n/readyz: {ready}\nserver log:\n{self.server_log()}")

    def plan(self, round_no: int) -> list[Push]:
        """This round's pushes: each good project's new tip, commits that do not exist, pushes
        to the project whose repository is gone; or ten copies of one delivery."""
        tips = {
            name: repo.commit({"app.txt": f"round {round_no}\n"}, f"round {round_no}")
            for name, repo in self.repos.items()
        }
        if round_no % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
            name = GOOD[round_no % len(GOOD)]
            copy = Push(name, f"r{round_no}-dup", tips[name], True)
            return [dataclasses.replace(copy) for _ in range(PUSHES_PER_ROUND)]
        projects = [*GOOD, GONE]
        pushes = []
        for i in range(PUSHES_PER_ROUND):
            name, delivery = projects[i % len(projects)], f"r{round_no}-{i}"
            if name == GONE or i % 5 == 4:
                pushes.append(Push(name, delivery, uuid.uuid4().hex + "0" * 8, False))
            else:
                pushes.append(Push(name, delivery, tips[name], True))
        return pushes

    async def send(self, push: Push) -> Push:
        body = body_of(github_push("refs/heads/main", push.commit))
        headers = github_headers(self.secrets[push.project], body, delivery=push.delivery)
        try:
            response = await self.http.post(
                f"/hooks/github/{push.project}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            push.error = repr(exc)
            return push
        push.status = response.status_code
        with contextlib.suppress(ValueError):
            push.answer = response.json()
        if push.deployment:
            self.accepted.append(push.deployment)
        return push

    async def check_round(self, round_no: int, pushes: list[Push]) -> None:
        """Every push was answered; good ones deployed; copies of one delivery made one."""
        unanswered = [(p.delivery, p.error) for p in pushes if p.status is None]
        if unanswered:
            raise await self.wedged(
                f"round {round_no}: {len(unanswered)} pushes unanswered after {ANSWER_WITHIN} s: "
                f"{unanswered[:3]}"
            )
        answers = [(p.delivery, p.status, p.answer) for p in pushes]
        if len({p.delivery for p in pushes}) == 1:
            first = [p.deployment for p in pushes if p.status == 202]
            assert len(first) == 1 and first[0], f"round {round_no}: {answers}"
            for p in pushes:
                if p.status != 202:
                    assert p.status == 200 and p.answer["duplicate"] is True, answers
                    assert p.answer.get("deployment") in (None, first[0]), answers
            return
        for p in pushes:
            # A push of a commit that does not exist may deploy (and fail) or be ignored.
            accepted = p.deployment is not None if p.deployable else p.status == 202
            assert accepted, f"round {round_no}: {p.delivery} {p.status} {p.answer}"

    async def ready(self, round_no: int) -> None:
        """`/readyz` answers 200 within READY_WITHIN seconds."""
        began = time.monotonic()
        last: object = None
        while time.monotonic() - began < READY_WITHIN:
            try:
                response = await self.http.get("/readyz", timeout=READY_WITHIN)
                if response.status_code == 200:
                    return
                last = (response.status_code, response.text)
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
        raise await self.wedged(f"/readyz not 200 {READY_WITHIN} s after round {round_no}: {last}")

    async def watch(self, rng: random.Random, stop: asyncio.Event) -> None:
        """A log viewer that keeps opening a recent deployment's SSE log and hanging up."""
        while not stop.is_set():
            if not self.accepted:
                await asyncio.sleep(0.05)
                continue
            dep_id = rng.choice(self.accepted[-15:])
            problem = await self.view(dep_id, dwell=rng.uniform(0.05, 0.8))
            self.views += 1
            if problem:
                self.viewer_problems.append(problem)

    async def view(self, dep_id: str, dwell: float) -> str | None:
        """Read `dep_id`'s SSE log for `dwell` seconds (or to its end), then drop the
        connection; return what went wrong, if anything."""
        request = self.viewer_http.build_request(
            "GET", f"/api/v1/deployments/{dep_id}/logs", headers={"Accept": "text/event-stream"}
        )
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                response = await self.viewer_http.send(request, stream=True)
        except (TimeoutError, httpx.HTTPError) as exc:
            return f"log viewer of {dep_id}: no answer: {exc!r}"
        try:
            if response.status_code != 200:
                return f"log viewer of {dep_id}: {response.status_code}"
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(dwell):
                    async for chunk in response.aiter_raw():
                        if b"event: done" in chunk:
                            break
        except httpx.HTTPError as exc:
            return f"log viewer of {dep_id}: {exc!r}"
        finally:
            await response.aclose()
        return None

    async def drain(self) -> dict[str, dict[str, Any]]:
        """Every accepted deployment, once all of them are terminal."""
        deadline = time.monotonic() + DRAIN_WITHIN
        done: dict[str, dict[str, Any]] = {}
        last: dict[str, Any] = {}
        while len(done) < len(set(self.accepted)):
            if time.monotonic() > deadline:
                raise await self.wedged(
                    f"{len(set(self.accepted)) - len(done)} deployments not terminal after "
                    f"{DRAIN_WITHIN} s; one: {last}"
                )
            for dep_id in [d for d in dict.fromkeys(self.accepted) if d not in done]:
                try:
                    response = await self.http.get(f"/api/v1/deployments/{dep_id}")
                except httpx.HTTPError as exc:
                    raise await self.wedged(f"GET deployment {dep_id}: {exc!r}") from None
                assert response.status_code == 200, response.text
                last = response.json()
                if last["status"] in TERMINAL:
                    done[dep_id] = last
            await asyncio.sleep(0.2)
        return done

    async def problems(self, sent: list[Push], finished: dict[str, dict[str, Any]]) -> list[str]:
        """What is wrong with the deployments the pushes made, each checked from outside."""
        by_deployment = {p.deployment: p for p in sent if p.deployment}
        found = []
        if len(by_deployment) != len([p for p in sent if p.deployment]):
            found.append("two accepted pushes share a deployment")
        for dep_id, push in by_deployment.items():
            dep = finished[dep_id]
            if dep["trigger"]["delivery"] != push.delivery or dep["commit"] != push.commit:
                found.append(f"{dep_id} is not the deployment of {push}: {dep}")
            text = (await self.http.get(f"/api/v1/deployments/{dep_id}/logs?follow=0")).text
            wrong = deployment_problems(dep, text, push.deployable)
            if wrong:
                found.append(f"{dep_id}: {'; '.join(wrong)}; log: {text[:800]!r}")
        for name in (*GOOD, GONE):
            listed = await self.http.get(f"/api/v1/projects/{name}/deployments?limit=100")
            ids = {d["id"] for d in listed.json()["deployments"]}
            assert len(ids) < 100, "raise the limit or page through"
            extra = ids - {d for d, p in by_deployment.items() if p.project == name}
            if extra:
                found.append(f"{name}: deployments no push asked for: {extra}")
        outcomes = collections.Counter(d["status"] for d in finished.values())
        if not outcomes["COMPLETED"] or not outcomes["FAILED"]:
            found.append(f"expected both completed and failed deployments: {outcomes}")
        return found


def deployment_problems(dep: dict[str, Any], text: str, deployable: bool) -> list[str]:
    """What is wrong with a finished deployment's stages and its plain-text log."""
    lines = collections.Counter(text.splitlines())
    checkouts = sum(n for line, n in lines.items() if line.startswith("[capstan] checking out "))
    markers = {line: n for line, n in lines.items() if line.startswith("==> ")}
    problems = []
    if checkouts != 1:
        problems.append(f"checked out {checkouts} times")
    if not deployable:
        if dep["status"] != "FAILED" or not (dep["error"] or "").startswith("checkout failed"):
            problems.append(f"{dep['status']}: {dep['error']} (expected a failed checkout)")
        if any(s["attempt"] != 0 for s in dep["stages"]) or markers:
            problems.append(f"a stage ran after a failed checkout: {dep['stages']}")
        return problems
    if dep["status"] != "COMPLETED":
        problems.append(f"{dep['status']}: {dep['error']}")
    ran = [(s["name"], s["status"], s["attempt"]) for s in dep["stages"]]
    if ran != [("build", "succeeded", 1), ("release", "succeeded", 1)]:
        problems.append(f"stages {ran}")
    if markers != {"==> build (attempt 1)": 1, "==> release (attempt 1)": 1}:
        problems.append(f"stage markers {markers}")
    expected = [f"build 1 {dep['id']}", "build 2", "build 3"]
    expected += [f"release 1 {dep['commit']}", "release 2"]
    counts = {line: lines[line] for line in expected if lines[line] != 1}
    if counts:
        problems.append(f"stage output not exactly once: {counts}")
    return problems


def repositories(tmp_path: Path) -> tuple[dict[str, Repo], str]:
    """A git repository for each good project, and the path of one that was removed."""
    repos = {}
    for name in (*GOOD, GONE):
        path = tmp_path / "repos" / name
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        repos[name] = Repo(path)
        repos[name].commit({"app.txt": "first\n"}, "first")
    shutil.rmtree(repos.pop(GONE).path)
    return repos, str(tmp_path / "repos" / GONE)


@contextlib.asynccontextmanager
async def serving(settings: Settings, log: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A real `capstan serve` on the test's database and Redis; an admin's client of it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(
        settings,
        CAPSTAN_PORT=str(port),
        CAPSTAN_DATABASE_URL=settings.database_url,
        CAPSTAN_REDIS_URL=settings.redis_url,
    )
    proc = start(["serve"], env, log)
    try:
        await wait_ready(url, proc, log)
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=url, timeout=ANSWER_WITHIN, limits=limits) as http:
            await sign_in_as_admin(http, settings.data_dir)
            yield http
    finally:
        stop(proc)


async def test_bursts_of_pushes_with_log_viewers_never_wedge_and_run_each_push_once(
    settings: Settings, tmp_path: Path
) -> None:
    repos, gone_url = repositories(tmp_path)
    log = tmp_path / "serve.log"
    async with serving(settings, log) as http:
        secrets = {}
        for name in (*GOOD, GONE):
            repo_url = repos[name].url if name in repos else gone_url
            created = await http.post(
                "/api/v1/projects", json={"name": name, "repo_url": repo_url, "stages": STAGES}
            )
            assert created.status_code == 201, created.text
            secrets[name] = created.json()["webhook_secret"]
        async with httpx.AsyncClient(
            base_url=http.base_url, headers=http.headers, timeout=ANSWER_WITHIN
        ) as viewer_http:
            soak = Soak(http, viewer_http, log, secrets, repos)
            stop_viewers = asyncio.Event()
            viewers = [
                asyncio.create_task(soak.watch(random.Random(n), stop_viewers))
                for n in range(VIEWERS)
            ]
            sent: list[Push] = []
            try:
                for round_no in range(ROUNDS):
                    pushes = await asyncio.gather(*map(soak.send, soak.plan(round_no)))
                    await soak.check_round(round_no, pushes)
                    sent += pushes
                    await soak.ready(round_no)
                finished = await soak.drain()
            finally:
                stop_viewers.set()
                await asyncio.gather(*viewers)
        problems = soak.viewer_problems + await soak.problems(sent, finished)
        assert soak.views >= ROUNDS, f"the log viewers hardly ran: {soak.views} views"
    for needle in ("IntegrityError", "Traceback"):
        hits = [line for line in log.read_text(errors="replace").splitlines() if needle in line]
        if hits:
            problems.append(f"{len(hits)} server log lines with {needle}; first: {hits[0][-3000:]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:8])
