"""Authenticated API throughput against a bare Starlette app, measured in the same run.

    .venv/bin/python bench/api.py [--seconds 10] [--connections 50]

wrk (Debian's package) drives, in turn: a bare Starlette "hello world" under the same uvicorn
settings (the baseline), Capstan's `/healthz`, then `GET /api/v1/me` and
`GET /api/v1/deployments/{id}` with a bearer token. Prints requests/s and the ratio to the
baseline (goal: at least 0.40). CAPSTAN_DATABASE_URL picks the database (SQLite by default).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import admin_headers, api, capstan_server, free_port

BARE = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"hello": "world"})

app = Starlette(routes=[Route("/", hello)])
"""


@contextlib.contextmanager
def bare_starlette(tmp: Path) -> Iterator[str]:
    (tmp / "bare_app.py").write_text(BARE)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the bare Starlette app did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    """Requests/s that wrk measured; fails on any non-2xx answer."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        args[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors from {url}:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/api.py needs wrk: apt-get install wrk")
    env = {k: v for k, v in os.environ.items() if k == "CAPSTAN_DATABASE_URL"}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, bare_starlette(Path(tmp)) as bare_url:
        baseline = wrk(bare_url, args.seconds, args.connections, {})
        with capstan_server(**env) as server:
            server.headers = admin_headers(server)
            with api(server) as http:
                stages = [{"name": "build", "run": "true"}]
                http.post("/api/v1/projects", json={"name": "bench", "stages": stages})
                dep = http.post("/api/v1/projects/bench/deployments", json={}).json()

            def rate(path: str, headers: dict[str, str]) -> float:
                return wrk(f"{server.url}{path}", args.seconds, args.connections, headers)

            rows = [
                ("bare Starlette hello world", baseline),
                ("Capstan GET /healthz", rate("/healthz", {})),
                ("GET /api/v1/me (bearer)", rate("/api/v1/me", server.headers)),
                (
                    "GET /api/v1/deployments/{id} (bearer)",
                    rate(f"/api/v1/deployments/{dep['id']}", server.headers),
                ),
            ]
    print(f"{'path':<42} {'req/s':>9} {'ratio':>7}")
    for name, measured in rows:
        print(f"{name:<42} {measured:>9.0f} {measured / baseline:>7.2f}")
    print("goal: the API rows at >= 0.40 of bare Starlette (stretch 0.60)")


if __name__ == "__main__":
    main()
