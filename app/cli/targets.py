"""Client commands for a project's SSH targets: `targets list | add | show | remove | check |
rekey`, over the HTTP API (like `app.cli.client`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from app.cli.client import command, report, request, show_json
from app.cli.exits import Exit
from app.settings import Settings


def register(sub: Any) -> None:
    targets = command(
        sub, "targets", cmd_list, "list, add, check and remove a project's servers",
        "The servers a project deploys to over SSH. Each has its own key pair, made by "
        "Capstan: put its public key in the server's authorized_keys, accept the server's "
        "host key, and check the connection.",
    )  # fmt: skip
    targets.set_defaults(func=lambda args, settings: _usage(targets))
    targets_sub = targets.add_subparsers(title="commands", metavar="<command>")
    listing = command(
        targets_sub, "list", cmd_list, "list a project's targets",
        "List PROJECT's targets: address, path, labels, current release and health.",
    )  # fmt: skip
    listing.add_argument("project", metavar="PROJECT")
    add = command(
        targets_sub, "add", cmd_add, "add a target",
        "Add target NAME to PROJECT: Capstan makes its key pair and prints the public key, "
        "to append to ~USER/.ssh/authorized_keys on the server.",
    )  # fmt: skip
    add.add_argument("project", metavar="PROJECT")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--host", required=True, help="the server's DNS name or IP address")
    add.add_argument("--port", type=int, help="its SSH port (default 22)")
    add.add_argument("--user", required=True, help="the user to log in as")
    add.add_argument("--path", required=True,
                     help="where releases go (PATH/releases, PATH/current switched)")  # fmt: skip
    add.add_argument("--label", dest="labels", action="append", metavar="LABEL",
                     help="a label (repeat for more)")  # fmt: skip
    for verb, func, summary, text in (
        ("show", cmd_show, "show a target", "Show target NAME of PROJECT and its public key."),
        ("remove", cmd_remove, "remove a target",
         "Remove target NAME from PROJECT. Capstan forgets it and its key; nothing on the "
         "server is touched (take the key out of its authorized_keys yourself)."),
        ("check", cmd_check, "check that Capstan can log in",
         "Connect to target NAME of PROJECT as its user with its key and run a command; "
         "say what stands in the way if that fails (exit 1)."),
        ("rekey", cmd_rekey, "give a target a new key pair",
         "Replace the key pair of target NAME of PROJECT and print the new public key. The "
         "old key stops working for Capstan at once: put the new one in the server's "
         "authorized_keys, then remove the old one there."),
    ):  # fmt: skip
        action = command(targets_sub, verb, func, summary, text)
        action.add_argument("project", metavar="PROJECT")
        action.add_argument("name", metavar="NAME")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return Exit.ERROR


def _path(project: str, *rest: str) -> str:
    return "/".join(
        ["/api/v1/projects", quote(project, safe=""), "targets", *(quote(p, safe="") for p in rest)]
    )


def _health(target: dict[str, Any]) -> str:
    health = target.get("health")
    if not health:
        return "-"
    return "ok" if health.get("ok") else "failed"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", _path(args.project))
    if args.json:
        return show_json(body)
    for t in body["targets"]:
        address = f"{t['user']}@{t['host']}:{t['port']}"
        labels = ",".join(t["labels"]) or "-"
        release = t["current_release"] or "-"
        print(f"{t['name']:<20} {address:<36} {t['path']:<24} {labels:<16} {release:<24} "
              f"{_health(t)}")  # fmt: skip
    return Exit.OK


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    flags = {"name": args.name, "host": args.host, "port": args.port, "user": args.user,
             "path": args.path, "labels": args.labels}  # fmt: skip
    body = {key: value for key, value in flags.items() if value is not None}
    target = request(settings, "POST", _path(args.project), json=body)
    if args.json:
        return show_json(target)
    print(f"added target {target['name']} to {args.project}", file=sys.stderr)
    _let_in(target, "Append this line to")
    print(f"then: capstan targets check {args.project} {target['name']}", file=sys.stderr)
    return Exit.OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    t = request(settings, "GET", _path(args.project, args.name))
    if args.json:
        return show_json(t)
    health = t["health"] or {}
    detail = f" ({health.get('detail')})" if health.get("detail") else ""
    at = f" at {health['at']}" if health.get("at") else ""
    print(f"target {t['name']} of {args.project}")
    print(f"address:     {t['user']}@{t['host']}:{t['port']}")
    print(f"path:        {t['path']}")
    print(f"labels:      {', '.join(t['labels']) or '-'}")
    print(f"current:     {t['current_release'] or '-'}")
    print(f"health:      {_health(t)}{at}{detail}")
    print(f"fingerprint: {t['fingerprint']}")
    print(f"public key:  {t['public_key']}")
    return Exit.OK


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path(args.project, args.name))
    body = {"project": args.project, "removed": args.name}
    return report(args, body, f"removed target {args.name} from {args.project}")


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    result = request(settings, "POST", _path(args.project, args.name, "check"))
    if args.json:
        show_json(result)
    else:
        print(f"{'ok' if result['ok'] else 'failed'}: {result['detail']}")
    return Exit.OK if result["ok"] else Exit.ERROR


def cmd_rekey(args: argparse.Namespace, settings: Settings) -> int:
    target = request(settings, "POST", _path(args.project, args.name, "key"))
    if args.json:
        return show_json(target)
    print(f"new key pair for target {target['name']} ({target['fingerprint']})", file=sys.stderr)
    _let_in(target, "Replace its line in", " with")
    return Exit.OK


def _let_in(target: dict[str, Any], what: str, tail: str = "") -> None:
    """The public key on stdout, after where to put it on the server (on stderr)."""
    where = f"~{target['user']}/.ssh/authorized_keys on {target['host']}"
    print(f"{what} {where}{tail}:", file=sys.stderr)
    print(target["public_key"])
