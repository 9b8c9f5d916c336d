"""Real SSH servers for the tests: Debian's openssh-server on a free loopback port, each with
its own host key and authorized keys, as a non-daemon child of the test (`sshd -D`).

`start_sshd(directory)` starts one; `Sshd.authorize(public_line)` lets a key in (as the user
running the tests); `Sshd.rekey()` gives the server a new host key (a "changed host key").
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_ed25519
AuthorizedKeysFile {dir}/authorized_keys
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
MaxStartups 100
MaxSessions 100
"""


@dataclasses.dataclass
class Sshd:
    dir: Path
    port: int
    user: str
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> str:
        """`algorithm base64` of the server's host key."""
        return " ".join((self.dir / "host_ed25519.pub").read_text().split()[:2])

    @property
    def known_hosts(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key}\n"

    def authorize(self, public_line: str) -> None:
        with (self.dir / "authorized_keys").open("a") as out:
            out.write(public_line.strip() + "\n")

    def start(self) -> None:
        log = self.dir / "sshd.log"
        with log.open("ab") as errors:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                err = log.read_text()
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {err}")
            with socket.socket() as probe:
                if probe.connect_ex((self.host, self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("sshd did not start listening")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def rekey(self) -> None:
        """Restart with a new host key."""
        self.stop()
        for name in ("host_ed25519", "host_ed25519.pub"):
            (self.dir / name).unlink()
        _host_key(self.dir)
        self.start()


def _host_key(directory: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_ed25519")],
        check=True,
    )


def start_sshd(directory: Path) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
    _host_key(directory)
    (directory / "authorized_keys").touch()
    port = free_port()
    (directory / "sshd_config").write_text(CONFIG.format(port=port, dir=directory))
    server = Sshd(directory, port, getpass.getuser())
    server.start()
    return server


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


@pytest.fixture
def sshd_pair(tmp_path: Path) -> Iterator[tuple[Sshd, Sshd]]:
    """Two servers, each on its own port with its own host key."""
    first, second = start_sshd(tmp_path / "sshd-a"), start_sshd(tmp_path / "sshd-b")
    yield first, second
    first.stop()
    second.stop()
