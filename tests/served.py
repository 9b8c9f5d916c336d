"""A real `capstan serve` in its own process on a loopback port, for tests that need one: to
read the server's memory, or to drive it from a synchronous client (schemathesis, Hypothesis)
that would block a server running in the test's own event loop."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from conftest import free_port


@dataclasses.dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def admin_token(self) -> str:
        """Sign in as the first admin and make an API token."""
        password = (self.data_dir / "initial-admin-password").read_text().strip()
        with httpx.Client(base_url=self.url, timeout=30) as http:
            login = http.post("/login", json={"username": "admin", "password": password})
            assert login.status_code == 200, login.text
            csrf = login.json()["csrf_token"]
            made = http.post("/api/v1/tokens", json={"name": "tests"},
                             headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert made.status_code == 201, made.text
            token: str = made.json()["token"]
            return token

    def rss_kib(self, field: str = "VmRSS") -> int:
        """The server's resident memory (`VmRSS`), or its peak (`VmHWM`), in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for pid {self.proc.pid}")

    def reset_peak(self) -> None:
        """Make `VmHWM` start again from the current RSS (proc(5): clear_refs, value 5)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")


@contextlib.contextmanager
def serve(
    tmp: Path,
    redis_url: str,
    database_url: str | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """`capstan serve` on `port` (default: a free one) with its data in `tmp`, until it
    answers /readyz; `env` is added to its environment."""
    port = port or free_port()
    extra = env or {}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "CAPSTAN_DATA_DIR": str(tmp / "data"),
        "CAPSTAN_PORT": str(port),
        "CAPSTAN_REDIS_URL": redis_url,
        "CAPSTAN_MASTER_KEY": "cd" * 32,
        "CAPSTAN_LOG_LEVEL": "warning",
        **({"CAPSTAN_DATABASE_URL": database_url} if database_url else {}),
        **extra,
    }
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=out, stderr=out
        )
    served = Served(f"http://127.0.0.1:{port}", proc, tmp / "data", log)
    try:
        _wait_ready(served)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert served.proc.poll() is None, served.log.read_text()
        try:
            if httpx.get(f"{served.url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"capstan serve did not become ready:\n{served.log.read_text()}")
