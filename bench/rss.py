"""(c) Resident memory of an idle `capstan serve`, including its bundled Redis.

The baseline is a bare `python -c 'import time; time.sleep(9)'`, measured in the same run.
Goal: under 150 MB.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import capstan_server


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with capstan_server() as server:
        time.sleep(5)
        capstan = rss_mb(server.proc.pid)
        redis_pid = server.redis_pid()
        redis = rss_mb(redis_pid) if redis_pid else 0.0
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(9)"])
    time.sleep(1)
    python = rss_mb(bare.pid)
    bare.kill()
    total = capstan + redis
    print(
        f"idle RSS: capstan {capstan:.1f} MB + bundled redis {redis:.1f} MB = {total:.1f} MB "
        f"(goal < 150 MB)"
    )
    print(f"  baseline, bare python: {python:.1f} MB; ratio {total / python:.1f}x")


if __name__ == "__main__":
    main()
