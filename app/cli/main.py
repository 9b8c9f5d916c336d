"""The `capstan` command line.

Server commands (`serve`, `worker`, `migrate`) run Capstan itself; client commands (`deploy`,
`logs`, `status`) talk to a running server over its HTTP API at `CAPSTAN_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys

from app import datadir, db, logfmt
from app.cli import admin, client, keys, notify, people, projects, targets
from app.cli.exits import HELP as EXIT_HELP
from app.cli.exits import Exit, for_status
from app.errors import AppError, ConfigError
from app.settings import Settings

DESCRIPTION = f"""\
usage: capstan <command> [<args>]

Capstan deploys your projects: git push (or a trigger), and it runs your pipeline.

Run a server
   serve      Start Capstan: the API, log streams and a worker
   worker     Run deployments only (more workers on a shared database and Redis scale out)
   migrate    Apply database migrations and exit

Maintain its database directly (no server needed)
   secrets    check | rotate-key: decrypt every stored value, or rotate the master key
   user       Create users, set passwords
   token      Create an API token for a user
   audit      Verify the audit trail's hash chain

Work with a running server (CAPSTAN_URL, default http://127.0.0.1:8000; CAPSTAN_TOKEN)
   projects   List, show, create and delete projects
   deploy     Trigger a deployment of a project
   logs       Print a deployment's log, or follow it live
   status     Show a deployment and its stages
   approve    Approve a deployment waiting at a gate
   cancel     Cancel a deployment
   rollback   Stop a deployment, or roll a project back to an earlier release
   secrets    set | ls | rm: a project's secrets
   deploy-key show | generate | remove: the SSH key git uses for a private repository
   host-keys  list | scan | add | accept | remove: the SSH host keys a project trusts
   targets    The servers a project deploys to over SSH: add, check, rekey, remove
   users      List, create, change and delete users
   tokens     List, create and revoke your API tokens
   notify     Notification providers, channels and subscriptions
All but logs take --json, to print the API's JSON instead of text.

{EXIT_HELP}
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
        return Exit.USAGE
    except client.ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return for_status(exc.status)
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
    parser.set_defaults(json=False)
    sub = parser.add_subparsers(title="commands", metavar="<command>", prog="capstan")

    serve = sub.add_parser(
        "serve",
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
        help="run deployments only",
        description="Run deployments without serving HTTP. Start any number of workers "
        "against one PostgreSQL database and one Redis to scale out.",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser(
        "migrate",
        help="apply migrations",
        description="Apply pending database migrations.",
    )
    migrate.set_defaults(func=cmd_migrate)

    secrets = sub.add_parser(
        "secrets",
        help="check secrets or rotate the master key; set, list, delete a project's",
        description="check and rotate-key maintain the encrypted values in the database "
        "directly; set, ls and rm change a project's secrets through the server.",
    )
    secrets_sub = secrets.add_subparsers(title="commands", metavar="<command>")
    check = secrets_sub.add_parser(
        "check",
        help="decrypt every stored value and report",
        description="Decrypt every stored value with the configured keys; exit 1 if any fails.",
    )
    check.set_defaults(func=admin.cmd_secrets_check)
    rotate = secrets_sub.add_parser(
        "rotate-key",
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
    rotate.set_defaults(func=admin.cmd_secrets_rotate)
    secrets.set_defaults(func=lambda args, settings: _usage(secrets))
    projects.register(sub, secrets_sub)
    people.register(sub)
    notify.register(sub)
    targets.register(sub)
    keys.register(sub)

    user = sub.add_parser(
        "user", help="create users, set passwords",
        description="Manage users directly in the database (passwords from a prompt or stdin).",
    )  # fmt: skip
    user_sub = user.add_subparsers(title="commands", metavar="<command>")
    create = user_sub.add_parser(
        "create", help="create a user",
        description="Create USERNAME with ROLE; the password is asked for, or read from stdin.",
    )  # fmt: skip
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--role", default="developer", help="admin, manager, developer, viewer")
    create.set_defaults(func=admin.cmd_user_create)
    passwd = user_sub.add_parser(
        "passwd", help="set a user's password",
        description="Set USERNAME's password (asked for, or read from stdin); signs them out.",
    )  # fmt: skip
    passwd.add_argument("username", metavar="USERNAME")
    passwd.set_defaults(func=admin.cmd_user_passwd)
    user.set_defaults(func=lambda args, settings: _usage(user))

    token = sub.add_parser("token", help="create an API token",
                           description="Manage API tokens directly in the database.")  # fmt: skip
    token_sub = token.add_subparsers(title="commands", metavar="<command>")
    token_create = token_sub.add_parser(
        "create", help="create a token for a user",
        description="Create an API token for USERNAME and print it (shown this once).",
    )  # fmt: skip
    token_create.add_argument("username", metavar="USERNAME")
    token_create.add_argument("--name", default="cli", help="a name to recognise it by")
    token_create.add_argument("--expires-days", type=int, help="expire after DAYS days")
    token_create.set_defaults(func=admin.cmd_token_create)
    token.set_defaults(func=lambda args, settings: _usage(token))

    audit_cmd = sub.add_parser("audit", help="verify the audit trail",
                               description="Work with the audit trail.")  # fmt: skip
    audit_sub = audit_cmd.add_subparsers(title="commands", metavar="<command>")
    verify = audit_sub.add_parser(
        "verify", help="check the hash chain",
        description="Recompute the audit trail's hash chain; name the first broken event.",
    )  # fmt: skip
    verify.set_defaults(func=admin.cmd_audit_verify)
    audit_cmd.set_defaults(func=lambda args, settings: _usage(audit_cmd))

    deploy = client.command(
        sub, "deploy", client.cmd_deploy, "trigger a deployment",
        "Trigger a deployment of PROJECT and print its id; with --follow, stream its log and "
        "exit 0 only if it completes.",
    )  # fmt: skip
    deploy.add_argument("project", metavar="PROJECT")
    deploy.add_argument("--ref", help="branch, tag or commit (default: the project's branch)")
    deploy.add_argument("--version", dest="version_label", help="a version label to record")
    deploy.add_argument("-f", "--follow", action="store_true", help="follow the log to the end")

    logs = sub.add_parser(
        "logs",
        help="print a deployment's log",
        description="Print the log of deployment ID; with --follow, keep printing until it ends.",
    )
    logs.add_argument("id", metavar="ID")
    logs.add_argument("-f", "--follow", action="store_true", help="follow a live deployment")
    logs.set_defaults(func=client.cmd_logs)

    status = client.command(sub, "status", client.cmd_status, "show a deployment",
                            "Show deployment ID and its stages.")  # fmt: skip
    status.add_argument("id", metavar="ID")
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


# Server commands


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    import uvicorn

    from app.web.app import create_app, server_config

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    logfmt.configure(settings.log_level)
    preflight(settings)
    app = create_app(settings, worker=not args.no_worker)
    server = uvicorn.Server(server_config(app, settings, grace=5))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(banner(settings), flush=True)
            settle_heap()
        await task

    asyncio.run(serve())
    return 0 if server.started else 1


def banner(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}"
    password_file = settings.data_dir.resolve() / "initial-admin-password"
    first = f"as admin, password in {password_file}"
    who = first if password_file.exists() else "with your username and password"
    return (
        f"\nCapstan is running\n"
        f"  Open:     {url}/   (sign in {who})\n"
        f"  API:      {url}/api/v1/openapi.json   (the OpenAPI document: every route)\n"
        f"  Token:    export CAPSTAN_TOKEN=$(capstan token create admin)   (for the CLI and curl)\n"
        f"  Ready:    {url}/readyz\n"
        f"  Data:     {settings.data_dir.resolve()}\n"
        f"  Stop with Ctrl-C.\n"
    )


def settle_heap() -> None:
    """What startup loaded lives as long as the process: frozen out of the collector's sight,
    full collections stop walking it (they paused 200-340 ms under 1,000 log viewers)."""
    gc.collect()
    gc.freeze()


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
            settle_heap()
            await stop.wait()

    asyncio.run(work())
    return 0


def preflight(settings: Settings) -> None:
    """Migrate, check the master key and make the first admin before serving: a wrong key
    stops here, clearly, and a new admin's password is printed this once."""
    from app.accounts.auth import ensure_admin
    from app.keyring.keys import open_vault

    async def prepare() -> str | None:
        await open_vault(settings)
        return await ensure_admin(settings.data_dir)

    password = asyncio.run(admin.with_database(settings, prepare()))
    if password:
        print(f"\nCreated user admin with password: {password}")
        print(f"(also in {(settings.data_dir / 'initial-admin-password').resolve()})")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    datadir.prepare(settings)
    applied = asyncio.run(db.migrate(settings))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
