"""Log throughput with 50 secrets to mask, against the same stage with none, in the same run.

A stage prints 1,000,000 lines to one live SSE reader, once in a project without secrets
(the baseline) and once in a project with 50. Goal: masked at least half the unmasked rate.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import api, capstan_server
from logs import LINES, SCRIPT, follow

SECRETS = 50


def main() -> None:
    with (
        capstan_server() as server,
        api(server, 120) as http,
    ):
        stages = [{"name": "flood", "run": SCRIPT}]
        for name in ("plain", "masked"):
            http.post("/api/v1/projects", json={"name": name, "stages": stages}).raise_for_status()
        for n in range(SECRETS):
            value = {"value": secrets.token_urlsafe(18)}
            http.put(f"/api/v1/projects/masked/secrets/SECRET_{n}", json=value).raise_for_status()
        plain, _ = follow(http, "plain")
        masked, events = follow(http, "masked")
    ratio = plain / masked
    print(
        f"1,000,000 lines, {SECRETS} secrets masked: {LINES / masked:,.0f} lines/s "
        f"({events:,} events)"
    )
    print(
        f"  baseline, no secrets: {LINES / plain:,.0f} lines/s; "
        f"masked/unmasked {ratio:.2f} (goal >= 0.5)"
    )


if __name__ == "__main__":
    main()
