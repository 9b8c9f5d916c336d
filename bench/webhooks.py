"""100 concurrent signed GitHub push deliveries to 100 distinct projects.

Prints the response time p50/p99 and delivery-to-first-stage-start p50/p99; the baseline is
100 concurrent `GET /healthz` on the same server in the same run. Goal: response p99 at most
twice the baseline's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import capstan_server, percentile

PROJECTS = 100
STAGE = "date +%s.%N > $CAPSTAN_CACHE_DIR/started"


def push(n: int) -> bytes:
    sha = hashlib.sha1(str(n).encode()).hexdigest()
    payload = {
        "ref": "refs/heads/main",
        "after": sha,
        "head_commit": {"id": sha, "modified": ["README.md"]},
        "commits": [{"id": sha, "added": [], "removed": [], "modified": ["README.md"]}],
        "pusher": {"name": "bench"},
        "repository": {"full_name": f"bench/p{n}"},
    }
    return json.dumps(payload).encode()


async def timed(http: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> float:
    began = time.perf_counter()
    response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    response.raise_for_status()
    return time.perf_counter() - began


async def run(url: str, data_dir: Path, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=httpx.Limits(max_connections=200)
    ) as http:
        secrets = []
        for n in range(PROJECTS):
            stages = [{"name": "start", "run": STAGE}]
            response = await http.post("/api/v1/projects", json={"name": f"p{n}", "stages": stages})
            secrets.append(response.json()["webhook_secret"])
        baseline = await asyncio.gather(*(timed(http, "GET", "/healthz") for _ in range(PROJECTS)))
        sent = time.time()
        requests = []
        for n, secret in enumerate(secrets):
            body = push(n)
            signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": f"bench-{n}",
                "X-Hub-Signature-256": f"sha256={signature}",
                "Content-Type": "application/json",
            }
            requests.append(
                timed(http, "POST", f"/hooks/github/p{n}", content=body, headers=headers)
            )
        responses = await asyncio.gather(*requests)
        projects = data_dir / "projects"
        started_files = [projects / f"p{n}" / "cache" / "started" for n in range(PROJECTS)]
        deadline = time.monotonic() + 120
        while not all(f.exists() and f.read_text().strip() for f in started_files):
            if time.monotonic() > deadline:
                raise SystemExit("deployments did not start in time")
            await asyncio.sleep(0.05)
        starts = [float(f.read_text()) - sent for f in started_files]
    ms = [r * 1000 for r in responses]
    base = [b * 1000 for b in baseline]
    start_ms = [s * 1000 for s in starts]
    print(f"{PROJECTS} concurrent signed push deliveries to distinct projects")
    print(
        f"  response: p50 {percentile(ms, 50):.1f} ms  p99 {percentile(ms, 99):.1f} ms"
        "  (goal: p99 <= 2x the /healthz baseline's)"
    )
    print(
        f"  delivery to first stage start: p50 {percentile(start_ms, 50):.0f} ms  "
        f"p99 {percentile(start_ms, 99):.0f} ms  (worker concurrency 4)"
    )
    print(
        f"  baseline, {PROJECTS} concurrent GET /healthz: p50 {percentile(base, 50):.1f} ms  "
        f"p99 {percentile(base, 99):.1f} ms; "
        f"p99 ratio {percentile(ms, 99) / percentile(base, 99):.1f}x"
    )


def main() -> None:
    with capstan_server() as server:
        asyncio.run(run(server.url, server.data_dir, server.headers))


if __name__ == "__main__":
    main()
