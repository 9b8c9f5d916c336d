"""Start a real `capstan serve` on embedded defaults in a temporary data dir, for benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    headers: dict[str, str] = field(default_factory=dict)

    def redis_pid(self) -> int | None:
        pidfile = self.data_dir / "redis.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None


def admin_headers(server: Server) -> dict[str, str]:
    """Sign in as the first admin and return headers carrying a new API token."""
    password = (server.data_dir / "initial-admin-password").read_text().strip()
    with httpx.Client(base_url=server.url) as http:
        login = http.post("/login", json={"username": "admin", "password": password})
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        token = http.post("/api/v1/tokens", json={"name": "bench"}, headers=csrf).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def api(server: Server, timeout: float = 120) -> httpx.Client:
    """A client of the server's API, signed in as the admin."""
    return httpx.Client(base_url=server.url, headers=server.headers, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def capstan_server(**env: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="capstan-bench-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        environ = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "CAPSTAN_DATA_DIR": str(data),
            "CAPSTAN_PORT": str(port),
            "CAPSTAN_LOG_LEVEL": "warning",
            **env,
        }
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=environ, stdout=log, stderr=log
        )
        server = Server(f"http://127.0.0.1:{port}", proc, data)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{server.url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit((Path(tmp) / "serve.log").read_text())
                time.sleep(0.1)
            server.headers = admin_headers(server)
            yield server
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            pid = server.redis_pid()
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            log.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]
