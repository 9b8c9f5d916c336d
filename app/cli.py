"""The `capstan` command line.

Server commands (`serve`, `worker`, `migrate`) run Capstan itself; client commands (`deploy`,
`logs`, `status`) talk to a running server over its HTTP API at `CAPSTAN_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from app import db, logfmt
from app.errors import AppError, ConfigError
from app.settings import Settings

USER_AGENT = "capstan-cli/0.1"

DESCRIPTION = """\
usage: capstan <command> [<args>]

Capstan deploys your projects: git push (or a trigger), and it runs your pipeline.

Run a server
   serve      Start Capstan: API, web pages, log streams and a worker
   worker     Run deployments only (more workers on a shared database and Redis scale out)
   migrate    Apply database migrations and exit
   secrets    Check stored secrets, or rotate the master key
   user       Create users, set passwords
   token      Create an API token for a user
   audit      Verify the audit trail's hash chain

Work with a running server (CAPSTAN_URL, default http://127.0.0.1:8000)
   deploy     Trigger a deployment of a project
   logs       Print a deployment's log, or follow it live
   status     Show a deployment and its stages

See 'capstan <command> --help' to read about a specific command.
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        print(DESCRIPTION, end="")
        return 1
    try:
        settings = Settings.from_env(os.environ)
        result: int = args.func(args, settings)
        return result
    except ConfigError as exc:
        print(f"fatal: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capstan",
        usage="capstan <command> [<args>]",
        description=DESCRIPTION.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=True,
    )
    parser.format_help = lambda: DESCRIPTION  # type: ignore[method-assign]
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    serve = sub.add_parser(
        "serve",
        prog="capstan serve",
        help="start Capstan",
        description="Start Capstan: HTTP API, log streams and an in-process worker. "
        "Without CAPSTAN_DATABASE_URL and CAPSTAN_REDIS_URL it keeps SQLite and a bundled "
        "Redis in CAPSTAN_DATA_DIR (default ./capstan-data).",
    )
    serve.add_argument("--host", help="address to listen on (CAPSTAN_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (CAPSTAN_PORT, default 8000)")
    serve.add_argument("--no-worker", action="store_true", help="serve HTTP only, run no jobs")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        prog="capstan worker",
        help="run deployments only",
        description="Run deployments without serving HTTP. Start any number of workers "
        "against one PostgreSQL database and one Redis to scale out.",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser(
        "migrate",
        prog="capstan migrate",
        help="apply migrations",
        description="Apply pending database migrations.",
    )
    migrate.set_defaults(func=cmd_migrate)

    secrets = sub.add_parser(
        "secrets",
        prog="capstan secrets",
        help="check secrets or rotate the master key",
        description="Maintain the encrypted values in the database.",
    )
    secrets_sub = secrets.add_subparsers(title="commands", metavar="<command>")
    check = secrets_sub.add_parser(
        "check",
        prog="capstan secrets check",
        help="decrypt every stored value and report",
        description="Decrypt every stored value with the configured keys; exit 1 if any fails.",
    )
    check.set_defaults(func=cmd_secrets_check)
    rotate = secrets_sub.add_parser(
        "rotate-key",
        prog="capstan secrets rotate-key",
        help="re-encrypt everything under a new master key",
        description="Re-encrypt every stored value under a new master key, read from FILE or "
        "standard input (never the command line), in one transaction, while servers run. "
        "With the key file (no CAPSTAN_MASTER_KEY), the new key replaces it and the old one "
        "is discarded at the end. With CAPSTAN_MASTER_KEY, first give every server "
        "CAPSTAN_MASTER_KEY=<new> and CAPSTAN_MASTER_KEY_OLD=<old>, then run this.",
    )
    rotate.add_argument(
        "--new-key-file", metavar="FILE", default="-", help="file with the new key (default: stdin)"
    )
    rotate.set_defaults(func=cmd_secrets_rotate)
    secrets.set_defaults(func=lambda args, settings: _usage(secrets))

    user = sub.add_parser(
        "user", prog="capstan user", help="create users, set passwords",
        description="Manage users directly in the database (passwords from a prompt or stdin).",
    )  # fmt: skip
    user_sub = user.add_subparsers(title="commands", metavar="<command>")
    create = user_sub.add_parser(
        "create", prog="capstan user create", help="create a user",
        description="Create USERNAME with ROLE; the password is asked for, or read from stdin.",
    )  # fmt: skip
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--role", default="developer", help="admin, manager, developer, viewer")
    create.set_defaults(func=cmd_user_create)
    passwd = user_sub.add_parser(
        "passwd", prog="capstan user passwd", help="set a user's password",
        description="Set USERNAME's password (asked for, or read from stdin); signs them out.",
    )  # fmt: skip
    passwd.add_argument("username", metavar="USERNAME")
    passwd.set_defaults(func=cmd_user_passwd)
    user.set_defaults(func=lambda args, settings: _usage(user))

    token = sub.add_parser("token", prog="capstan token", help="create an API token",
                           description="Manage API tokens directly in the database.")  # fmt: skip
    token_sub = token.add_subparsers(title="commands", metavar="<command>")
    token_create = token_sub.add_parser(
        "create", prog="capstan token create", help="create a token for a user",
        description="Create an API token for USERNAME and print it (shown this once).",
    )  # fmt: skip
    token_create.add_argument("username", metavar="USERNAME")
    token_create.add_argument("--name", default="cli", help="a name to recognise it by")
    token_create.add_argument("--expires-days", type=int, help="expire after DAYS days")
    token_create.set_defaults(func=cmd_token_create)
    token.set_defaults(func=lambda args, settings: _usage(token))

    audit_cmd = sub.add_parser("audit", prog="capstan audit", help="verify the audit trail",
                               description="Work with the audit trail.")  # fmt: skip
    audit_sub = audit_cmd.add_subparsers(title="commands", metavar="<command>")
    verify = audit_sub.add_parser(
        "verify", prog="capstan audit verify", help="check the hash chain",
        description="Recompute the audit trail's hash chain; name the first broken event.",
    )  # fmt: skip
    verify.set_defaults(func=cmd_audit_verify)
    audit_cmd.set_defaults(func=lambda args, settings: _usage(audit_cmd))

    deploy = sub.add_parser(
        "deploy",
        prog="capstan deploy",
        help="trigger a deployment",
        description="Trigger a deployment of PROJECT and print its id; with --follow, "
        "stream its log and exit 0 only if it completes.",
    )
    deploy.add_argument("project", metavar="PROJECT")
    deploy.add_argument("--ref", help="branch, tag or commit (default: the project's branch)")
    deploy.add_argument("--version", dest="version_label", help="a version label to record")
    deploy.add_argument("-f", "--follow", action="store_true", help="follow the log to the end")
    deploy.set_defaults(func=cmd_deploy)

    logs = sub.add_parser(
        "logs",
        prog="capstan logs",
        help="print a deployment's log",
        description="Print the log of deployment ID; with --follow, keep printing until it ends.",
    )
    logs.add_argument("id", metavar="ID")
    logs.add_argument("-f", "--follow", action="store_true", help="follow a live deployment")
    logs.set_defaults(func=cmd_logs)

    status = sub.add_parser(
        "status",
        prog="capstan status",
        help="show a deployment",
        description="Show deployment ID and its stages.",
    )
    status.add_argument("id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the API's JSON")
    status.set_defaults(func=cmd_status)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


# Server commands


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    import uvicorn

    from app.web.app import create_app

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    logfmt.configure(settings.log_level)
    preflight(settings)
    app = create_app(settings, worker=not args.no_worker)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=5,
        proxy_headers=True,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(banner(settings), flush=True)
        await task

    asyncio.run(serve())
    return 0 if server.started else 1


def banner(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}"
    password_file = settings.data_dir.resolve() / "initial-admin-password"
    return (
        f"\nCapstan is running: open {url}\n"
        f"  API:      {url}/api/v1/projects   (OpenAPI: {url}/api/v1/openapi.json)\n"
        f"  Log in:   POST {url}/login as admin, password in {password_file}\n"
        f"            (then create a token: capstan token create admin)\n"
        f"  Data:     {settings.data_dir.resolve()}\n"
        f"  Stop with Ctrl-C.\n"
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.runtime import running

    logfmt.configure(settings.log_level)
    preflight(settings)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running(settings, worker=True):
            print(f"capstan worker running (concurrency {settings.worker_concurrency})", flush=True)
            await stop.wait()

    asyncio.run(work())
    return 0


def preflight(settings: Settings) -> None:
    """Migrate, check the master key and make the first admin before serving: a wrong key
    stops here, clearly, and a new admin's password is printed this once."""
    from app.auth import ensure_admin
    from app.keys import open_vault

    async def prepare() -> str | None:
        await open_vault(settings)
        return await ensure_admin(settings.data_dir)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    password = asyncio.run(_with_database(settings, prepare()))
    if password:
        print(f"\nCreated user admin with password: {password}")
        print(f"(also in {(settings.data_dir / 'initial-admin-password').resolve()})")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = asyncio.run(db.migrate(settings))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


async def _with_database(settings: Settings, work: Any) -> Any:
    from tortoise import Tortoise

    await db.migrate(settings)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        return await work
    finally:
        await Tortoise.close_connections()


def cmd_secrets_check(args: argparse.Namespace, settings: Settings) -> int:
    from app import rotation

    counts, failures = asyncio.run(_with_database(settings, rotation.check(settings)))
    for kid, count in sorted(counts.items()):
        print(f"{count} value(s) under key {kid}: ok")
    for failure in failures:
        print(f"cannot decrypt {failure}", file=sys.stderr)
    if not counts and not failures:
        print("no encrypted values stored")
    return 1 if failures else 0


def cmd_secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from app import keys, rotation
    from app.domain.vault import key_id

    source = sys.stdin if args.new_key_file == "-" else open(args.new_key_file)  # noqa: SIM115
    with source:
        new_key = keys.parse_key(source.read(), "the new key")

    async def rotate() -> int:
        from app import audit

        count = await rotation.rotate(settings, new_key)
        await audit.record(audit.Actor("cli", "system"), "key.rotate",
                           details={"key_id": key_id(new_key), "values": count})  # fmt: skip
        return count

    count = asyncio.run(_with_database(settings, rotate()))
    print(
        f"re-encrypted {count} value(s) under key {key_id(new_key)}; "
        "the old key is no longer needed"
    )
    return 0


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ConfigError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from app import audit, auth
    from app.models import User

    async def create() -> None:
        username = auth.check_username(args.username)
        role = auth.check_role(args.role)
        password_hash = auth.hash_password(read_password(), username)
        await User.create(username=username, password_hash=password_hash, role=role)
        await audit.record(audit.Actor("cli", "system"), "user.create", target=username,
                           details={"role": role})  # fmt: skip

    asyncio.run(_with_database(settings, create()))
    print(f"created user {args.username} ({args.role})")
    return 0


async def _user(username: str) -> Any:
    from app.models import User

    user = await User.get_or_none(username=username)
    if user is None:
        raise ConfigError(f"no user {username!r}")
    return user


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from app import audit, auth

    async def passwd() -> None:
        user = await _user(args.username)
        user.password_hash = auth.hash_password(read_password(), user.username)
        await user.save()
        await auth.end_sessions(user.id)
        await audit.record(audit.Actor("cli", "system"), "user.update", target=user.username,
                           details={"password_changed": True})  # fmt: skip

    asyncio.run(_with_database(settings, passwd()))
    print(f"password of {args.username} changed; their sessions ended")
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from app import audit, auth

    async def create() -> str:
        user = await _user(args.username)
        days = args.expires_days
        expires = auth.now() + dt.timedelta(days=days) if days else None
        token, secret = await auth.create_token(user, args.name, expires)
        await audit.record(audit.Actor("cli", "system"), "token.create", target=str(token.id),
                           details={"user": user.username, "name": args.name})  # fmt: skip
        return secret

    print(asyncio.run(_with_database(settings, create())))
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app import audit

    checked, broken, why = asyncio.run(_with_database(settings, audit.verify()))
    if broken is None:
        print(f"{checked} events, {why}")
        return 0
    print(f"event {broken} is broken: {why} ({checked} events before it are intact)")
    return 1


# Client commands


class ClientError(Exception):
    """The server refused or could not be reached; the message says why."""


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
        raise ClientError(f"cannot reach Capstan at {settings.url}: {exc}") from None
    return _json_or_raise(response)


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.is_error:
        error = body.get("error", {})
        message = error.get("message") or response.reason_phrase
        raise ClientError(f"{message} ({response.status_code} {error.get('code', '')})".strip())
    return body


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    body = {k: v for k, v in (("ref", args.ref), ("version", args.version_label)) if v}
    dep = request(settings, "POST", f"/api/v1/projects/{args.project}/deployments", json=body)
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
        raise ClientError(f"cannot reach Capstan at {settings.url}: {exc}") from None
    if response.is_error:
        _json_or_raise(response)
    sys.stdout.write(response.text)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    dep = request(settings, "GET", f"/api/v1/deployments/{args.id}")
    if args.json:
        print(json.dumps(dep, indent=2))
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
