"""A project's health check of one target after its switch: an HTTP GET from the Capstan host
(`{host}` in the url becomes the target's host, an IPv6 address in brackets) or a command
run on the target in its new `current`, tried `1 + retries` times, `interval` seconds apart,
each within `timeout`. A URL httpx cannot use fails the check, as an unreachable host does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from app.domain import hosts
from app.domain.masker import Masker
from app.engine import targets
from app.engine.process import OnOutput, StageTimeout
from app.engine.targets import Host

Say = Callable[[str], Awaitable[None]]


async def check(
    spec: Mapping[str, Any],
    host: Host,
    *,
    env: Mapping[str, str],
    grace: float,
    on_output: OnOutput,
    masker: Masker,
    say: Say,
) -> str | None:
    """None once the host passes, or why its last attempt failed. A command's output goes to
    `on_output` as a stage's on the host does."""
    attempts = 1 + spec["retries"]
    for attempt in range(1, attempts + 1):
        if "url" in spec:
            failure = await _get(spec, host)
        else:
            failure = await _command(spec, host, env, grace, on_output, masker)
        if failure is None:
            await say(f"health check on {host.name} passed")
            return None
        if attempt < attempts:
            await say(
                f"health check on {host.name} failed: {failure} (attempt {attempt} of "
                f"{attempts}); again in {spec['interval']} s"
            )
            await asyncio.sleep(spec["interval"])
    return failure


async def _get(spec: Mapping[str, Any], host: Host) -> str | None:
    url = spec["url"].replace("{host}", hosts.in_url(host.target.host))
    expected = spec["expect_status"]
    try:
        async with httpx.AsyncClient(timeout=spec["timeout"], trust_env=False) as http:
            response = await http.get(url)
    except httpx.TimeoutException:
        return f"GET {url} timed out after {spec['timeout']} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"GET {url} failed: {str(exc) or type(exc).__name__}"
    if response.status_code != expected:
        return f"expected {expected}, got {response.status_code}"
    return None


async def _command(
    spec: Mapping[str, Any],
    host: Host,
    env: Mapping[str, str],
    grace: float,
    out: OnOutput,
    masker: Masker,
) -> str | None:
    try:
        code = await targets.run_script(
            host,
            spec["command"],
            cwd=host.current_dir(),
            env=env,
            timeout=spec["timeout"],
            grace=grace,
            on_output=out,
            masker=masker,
        )
    except StageTimeout as exc:
        return f"the command {exc}"
    except targets.TargetError as exc:
        return str(exc)
    return None if code == 0 else f"the command exited with code {code}"
