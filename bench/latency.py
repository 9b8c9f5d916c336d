"""(a) Trigger-to-first-stage-start latency over 200 deployments, p50 and p99.

Each trigger is made on an idle server; the first stage records the moment it starts. The
baseline is the time to start the same `bash` command directly, measured in the same run.
Goal: p99 under 100 ms.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import api, capstan_server, percentile

COUNT = 200
STAGE = "date +%s.%N > $CAPSTAN_CACHE_DIR/started"


def baseline(runs: int = 50) -> list[float]:
    samples = []
    for _ in range(runs):
        begin = time.time()
        out = subprocess.run(["bash", "-eo", "pipefail", "-c", "date +%s.%N"], capture_output=True)
        samples.append(float(out.stdout) - begin)
    return samples


def main() -> None:
    with (
        capstan_server() as server,
        api(server, 30) as http,
    ):
        stages = [{"name": "start", "run": STAGE}]
        http.post("/api/v1/projects", json={"name": "bench", "stages": stages}).raise_for_status()
        started = server.data_dir / "projects" / "bench" / "cache" / "started"
        latencies = []
        for _ in range(COUNT):
            began = time.time()
            dep = http.post("/api/v1/projects/bench/deployments", json={}).json()
            while http.get(f"/api/v1/deployments/{dep['id']}").json()["status"] != "COMPLETED":
                time.sleep(0.005)
            latencies.append(float(started.read_text()) - began)
    base = baseline()
    ms = [x * 1000 for x in latencies]
    base_ms = [x * 1000 for x in base]
    print(f"trigger-to-first-stage-start over {COUNT} deployments")
    print(
        f"  p50 {percentile(ms, 50):.1f} ms   p99 {percentile(ms, 99):.1f} ms (goal p99 < 100 ms)"
    )
    print(
        f"  baseline, bash started directly: p50 {percentile(base_ms, 50):.1f} ms "
        f"p99 {percentile(base_ms, 99):.1f} ms"
    )
    print(f"  ratio p50 capstan/baseline: {percentile(ms, 50) / percentile(base_ms, 50):.1f}x")


if __name__ == "__main__":
    main()
