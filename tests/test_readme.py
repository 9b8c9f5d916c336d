"""The README's walkthrough ("Five minutes with curl") runs, command by command, against a real
`capstan serve`, in one bash session as a reader would type it. The test only stands in for the
reader's eyes and second shell: it waits for what the prose says to wait for (the gate) and
approves from "another shell" while a command follows a deployment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import RedisServer
from served import Served, serve

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "cd" * 32  # the one tests/served.py gives the server
ANSWER = "walkthrough-secret-value"


def walkthrough() -> list[str]:
    """The shell blocks of "Five minutes with curl", one complete command each."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five minutes with curl\n", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending += line + "\n"
            if line.rstrip().endswith("\\"):
                continue
            complete = subprocess.run(["bash", "-n", "-c", pending], capture_output=True)
            if complete.returncode == 0:
                commands.append(pending)
                pending = ""
        assert not pending, f"an incomplete command: {pending}"
    return commands


def adapt(command: str, served: Served, demo: Path) -> str:
    """This machine's addresses: the test's server, demo repository and interpreter."""
    port = served.url.rsplit(":", 1)[1]
    command = re.sub(r"\blocalhost:8000\b", f"127.0.0.1:{port}", command)
    command = command.replace("/tmp/demo", str(demo))
    return re.sub(r"(?<![\w/])\./run ", f"{sys.executable} -m app.cli ", command)


class Shell:
    """One bash session: commands in, output and exit status out. What a command reads from
    its standard input (a secret's value) is what the reader types: `ANSWER`."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.answers = cwd.parent / "answers"
        self.answers.write_text(ANSWER + "\n")
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"], cwd=cwd, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.output = ""
        self.lock = threading.Lock()
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.run("shopt -s expand_aliases")

    def _read(self) -> None:
        assert self.proc.stdout
        for chunk in iter(lambda: self.proc.stdout.readline(), ""):  # type: ignore[union-attr]
            with self.lock:
                self.output += chunk

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        assert self.proc.stdin
        self.count += 1
        mark = f"__done_{self.count}__"
        with self.lock:
            start = len(self.output)
        self.proc.stdin.write(f"{{ {command}\n}} < {self.answers}\necho; echo {mark}$?\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = re.search(rf"{mark}(\d+)\n", self.output[start:])
                if found:
                    return int(found.group(1)), self.output[start : start + found.start()]
            assert time.monotonic() < deadline, f"stuck at {command!r}:\n{self.output[start:]}"
            time.sleep(0.05)

    def close(self) -> str:
        assert self.proc.stdin
        self.proc.stdin.write("wait\nexit\n")
        self.proc.stdin.close()
        self.proc.wait(30)
        assert self.proc.stdout
        self.proc.stdout.close()
        return self.output


class Reader:
    """The reader's eyes and second shell: the API, as the admin."""

    def __init__(self, served: Served) -> None:
        self.http = httpx.Client(base_url=served.url, timeout=30)
        self.http.headers["Authorization"] = f"Bearer {served.admin_token()}"

    def deployments(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/projects/demo/deployments", params={"limit": 100})
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["deployments"]
        return items

    def until(self, what: str, check: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            newest = next(iter(self.deployments()), None)
            if newest and check(newest):
                return newest
            assert time.monotonic() < deadline, f"never {what}: {newest}"
            time.sleep(0.05)

    def at_gate(self) -> dict[str, Any]:
        return self.until("at the gate", _at_gate)

    def settled(self) -> None:
        """Wait until nothing moves: the newest deployment is finished or at its gate."""
        if self.deployments():
            self.until("settled", lambda d: _at_gate(d) or d["status"] not in ACTIVE)

    def approve_when_waiting(self) -> None:
        dep = self.at_gate()
        approved = self.http.post(f"/api/v1/deployments/{dep['id']}/approve")
        assert approved.status_code == 200, approved.text


ACTIVE = ("PENDING", "IN_PROGRESS")


def _at_gate(dep: dict[str, Any]) -> bool:
    stage = dep["stages"][dep["stage_index"]] if dep["current_stage"] else None
    return bool(stage and stage["status"] == "awaiting_approval")


def test_the_walkthrough_runs(tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.flush()
    work = tmp_path / "work"
    work.mkdir()
    with serve(tmp_path, redis_server.url) as served:
        (work / "capstan-data").symlink_to(served.data_dir)
        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "CAPSTAN_DATA_DIR": str(served.data_dir),
            "CAPSTAN_MASTER_KEY": MASTER_KEY,
            "CAPSTAN_REDIS_URL": redis_server.url,
            "CAPSTAN_URL": served.url,
            "CAPSTAN_LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
        }
        shell, reader = Shell(work, env), Reader(served)
        transcript = []
        try:
            for command in walkthrough():
                line = adapt(command, served, tmp_path / "demo")
                code_part = re.split(r"\s#", line, maxsplit=1)[0]
                if re.search(r"\bapprove \$|/approve\b", code_part):
                    reader.at_gate()
                elif not re.search(r"\bcancel\b|&$", code_part.strip()):
                    reader.settled()
                approver = None
                if re.search(r"--follow\b|\s-f\b", code_part):
                    approver = threading.Thread(target=reader.approve_when_waiting)
                    approver.start()
                code, out = shell.run(line)
                if approver:
                    approver.join(30)
                transcript.append(f"$ {line}{out}")
                assert code == 0, "\n".join(transcript)
                assert not re.search(r'"error": ?\{', out), "\n".join(transcript)
            history = reader.deployments()
            rollback_log = reader.http.get(f"/api/v1/deployments/{history[0]['id']}/logs").text
        finally:
            transcript.append(shell.close())
            reader.http.close()
    story = [(d["kind"], d["status"]) for d in reversed(history)]
    assert story == [
        ("deploy", "COMPLETED"),
        ("deploy", "CANCELLED"),
        ("deploy", "COMPLETED"),
        ("rollback", "COMPLETED"),
    ], "\n".join(transcript)
    first = history[-1]
    assert os.readlink(served.data_dir / "projects/demo/current") == first["release"]
    text = "".join(transcript)
    assert "building v1" in text and "building v2" in text and "back on v1" in rollback_log
    assert ANSWER not in text
