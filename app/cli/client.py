"""The CLI's client commands: `deploy`, `logs`, `status`, over the HTTP API at `CAPSTAN_URL`
(with `CAPSTAN_TOKEN`), and the plumbing every client command shares (`app.cli.projects`,
`app.cli.people`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from app.cli.exits import Exit, for_status
from app.errors import ConfigError
from app.settings import Settings

USER_AGENT = "capstan-cli/0.1"


class ClientError(Exception):
    """The server refused or could not be reached; the message says why, `exit` what a
    script sees."""

    def __init__(self, message: str, exit: Exit = Exit.ERROR) -> None:
        super().__init__(message)
        self.exit = exit


def client(settings: Settings) -> httpx.Client:
    headers = {"User-Agent": USER_AGENT}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    return httpx.Client(base_url=settings.url, headers=headers, timeout=httpx.Timeout(30.0))


def request(settings: Settings, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        with client(settings) as http:
            response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise unreachable(settings, exc) from None
    return _json_or_raise(response)


def unreachable(settings: Settings, exc: httpx.HTTPError) -> ClientError:
    return ClientError(f"cannot reach Capstan at {settings.url}: {exc}", Exit.UNAVAILABLE)


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.is_error:
        error = body.get("error", {})
        message = error.get("message") or response.reason_phrase
        code = " ".join(str(part) for part in (response.status_code, error.get("code")) if part)
        raise ClientError(f"{message} ({code})", for_status(response.status_code))
    return body


def json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json`; absent, it leaves the value the top-level parser set (False) alone, so a group
    and its commands can both take it."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's JSON")  # fmt: skip


def command(
    sub: Any, name: str, func: Callable[..., int], summary: str, description: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A client command `name` with `--json` that runs `func`; `kwargs` go to `add_parser`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, **kwargs
    )
    json_flag(parser)
    parser.set_defaults(func=func)
    return parser


def show_json(body: object) -> int:
    print(json.dumps(body, indent=2))
    return Exit.OK


def report(args: argparse.Namespace, body: dict[str, Any], text: str) -> int:
    """`body` as JSON with --json, else `text`."""
    if args.json:
        return show_json(body)
    print(text)
    return Exit.OK


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    if args.json and args.follow:
        raise ConfigError("--json prints the new deployment; it does not --follow")
    body = {k: v for k, v in (("ref", args.ref), ("version", args.version_label)) if v}
    dep = request(settings, "POST", f"/api/v1/projects/{args.project}/deployments", json=body)
    if args.json:
        return show_json(dep)
    print(f"deployment {dep['id']} (#{dep['seq']}) queued for {dep['project']}", file=sys.stderr)
    if not args.follow:
        print(dep["id"])
        return 0
    return follow(settings, dep["id"], dep["total_stages"])


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    if args.follow:
        dep = request(settings, "GET", f"/api/v1/deployments/{args.id}")
        return follow(settings, args.id, dep["total_stages"])
    try:
        with client(settings) as http:
            response = http.get(f"/api/v1/deployments/{args.id}/logs", params={"follow": "0"})
    except httpx.HTTPError as exc:
        raise unreachable(settings, exc) from None
    if response.is_error:
        _json_or_raise(response)
    sys.stdout.write(response.text)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    dep = request(settings, "GET", f"/api/v1/deployments/{args.id}")
    if args.json:
        return show_json(dep)
    print(f"deployment {dep['id']}  #{dep['seq']}  {dep['project']}  {dep['kind']}")
    print(f"status:  {dep['status']}" + (f"  ({dep['error']})" if dep["error"] else ""))
    print(f"ref:     {dep['ref'] or '-'}  commit {dep['commit'] or '-'}")
    print(f"release: {dep['release'] or '-'}")
    done = sum(1 for s in dep["stages"] if s["status"] == "succeeded")
    print(f"stages:  {done}/{dep['total_stages']} succeeded")
    for stage in dep["stages"]:
        code = "" if stage["exit_code"] is None else f"  exit {stage['exit_code']}"
        attempt = f"  attempt {stage['attempt']}" if stage["attempt"] else ""
        print(f"  {stage['name']:<20} {stage['status']:<18}{attempt}{code}")
    return 0 if dep["status"] in ("COMPLETED", "PENDING", "IN_PROGRESS") else 1


def follow(settings: Settings, dep_id: str, total: int) -> int:
    """Stream the log over SSE: lines to stdout, stage progress to stderr."""
    names: list[str] = []
    headers = {"Accept": "text/event-stream"}
    last = ""
    while True:
        if last:
            headers["Last-Event-ID"] = last
        try:
            with client(settings) as http:
                timeout = httpx.Timeout(30.0, read=60.0)
                url = f"/api/v1/deployments/{dep_id}/logs"
                with http.stream("GET", url, headers=headers, timeout=timeout) as response:
                    if response.is_error:
                        response.read()
                        _json_or_raise(response)
                    for event, data, event_id in sse_events(response.iter_lines()):
                        last = event_id or last
                        if event == "log":
                            print(data, flush=True)
                        elif event == "stage":
                            stage = json.loads(data)
                            if stage["name"] not in names:
                                names.append(stage["name"])
                            step = f"[{names.index(stage['name']) + 1}/{total or '?'}]"
                            print(
                                f"{step} {stage['name']}: {stage['status']} "
                                f"(attempt {stage['attempt']})",
                                file=sys.stderr,
                                flush=True,
                            )
                        elif event == "done":
                            status = json.loads(data)["status"]
                            print(f"deployment {dep_id}: {status}", file=sys.stderr)
                            return 0 if status == "COMPLETED" else 1
        except httpx.TransportError:
            print("connection lost; resuming...", file=sys.stderr)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(event, data, id) for each Server-Sent Event; comments (pings) are skipped."""
    event, event_id = "message", ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), event_id
            event, data, event_id = "message", [], ""
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
