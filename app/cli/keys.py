"""Client commands for private repositories: `deploy-key show | generate | remove` and
`host-keys list | scan | add | accept | remove` (over the HTTP API, like `app.cli.client`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from app.cli.client import command, report, request, show_json
from app.cli.exits import Exit
from app.domain import hosts
from app.errors import ConfigError
from app.settings import Settings


def register(sub: Any) -> None:
    """Add `deploy-key` and `host-keys` to the parser's `sub`."""
    key = sub.add_parser(
        "deploy-key", help="show, generate or remove a project's SSH deploy key",
        description="A project's deploy key: the ed25519 key git uses for the project's "
        "SSH repository URL. Add its public line to the repository as a read-only deploy "
        "key; the private half never leaves the server.",
    )  # fmt: skip
    key_sub = key.add_subparsers(title="commands", metavar="<command>")
    for name, func, summary, text in (
        ("show", cmd_key_show, "print the public key",
         "Print PROJECT's deploy key: its public line (for the forge) and fingerprint."),
        ("generate", cmd_key_generate, "make a new key pair, replacing any",
         "Make a new ed25519 deploy key for PROJECT, replacing any (git stops using the old "
         "one at once), and print its public line."),
        ("remove", cmd_key_remove, "delete the key", "Delete PROJECT's deploy key."),
    ):  # fmt: skip
        command(key_sub, name, func, summary, text).add_argument("project", metavar="PROJECT")
    key.set_defaults(func=lambda args, settings: _usage(key))

    hosts = sub.add_parser(
        "host-keys", help="list, scan, add, accept and remove the SSH host keys a project trusts",
        description="The SSH host keys a project pins: git (and targets) connect only to a "
        "host offering a trusted key. A key met first is recorded untrusted until accepted.",
    )  # fmt: skip
    hosts_sub = hosts.add_subparsers(title="commands", metavar="<command>")
    listed = command(hosts_sub, "list", cmd_hosts_list, "list host keys",
                     "List PROJECT's host keys, trusted or not.")  # fmt: skip
    listed.add_argument("project", metavar="PROJECT")
    scan = command(
        hosts_sub, "scan", cmd_hosts_scan, "record the key a host offers now",
        "Ask HOST for its key now and record it for PROJECT, untrusted: compare the "
        "fingerprint with the one the host's owner publishes, then accept it.",
    )  # fmt: skip
    scan.add_argument("project", metavar="PROJECT")
    scan.add_argument("host", metavar="HOST")
    scan.add_argument("-p", "--port", type=int, default=22, help="the SSH port (default 22)")
    add = command(
        hosts_sub, "add", cmd_hosts_add, "trust known_hosts lines",
        "Trust the keys of known_hosts lines read from FILE (default: stdin) for PROJECT: "
        "`host algorithm key`, `[host]:port` for another port. Give lines from a source you "
        "trust (your forge's published keys; ssh-keyscan on a network you trust).",
    )  # fmt: skip
    add.add_argument("project", metavar="PROJECT")
    add.add_argument("file", metavar="FILE", nargs="?", default="-", help="known_hosts lines")
    for name, func, summary, text in (
        ("accept", cmd_hosts_accept, "trust a recorded key",
         "Trust host key ID of PROJECT; it replaces every other trusted key of that host and "
         "port, of any type (a host whose key changed)."),
        ("remove", cmd_hosts_remove, "forget a key", "Delete host key ID of PROJECT."),
    ):  # fmt: skip
        action = command(hosts_sub, name, func, summary, text)
        action.add_argument("project", metavar="PROJECT")
        action.add_argument("id", metavar="ID")
    hosts.set_defaults(func=lambda args, settings: _usage(hosts))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return Exit.ERROR


def _path(*parts: str) -> str:
    return "/api/v1/" + "/".join(quote(part, safe="") for part in parts)


# Deploy key


def _show_key(args: argparse.Namespace, body: dict[str, Any]) -> int:
    if args.json:
        return show_json(body)
    print(body["public_key"])
    print(f"fingerprint {body['fingerprint']}", file=sys.stderr)
    return Exit.OK


def cmd_key_show(args: argparse.Namespace, settings: Settings) -> int:
    return _show_key(args, request(settings, "GET", _path("projects", args.project, "deploy-key")))


def cmd_key_generate(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "POST", _path("projects", args.project, "deploy-key"))
    if not args.json:
        print(f"new deploy key for {args.project}: add it to the repository", file=sys.stderr)
    return _show_key(args, body)


def cmd_key_remove(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("projects", args.project, "deploy-key"))
    body = {"project": args.project, "deleted": "deploy-key"}
    return report(args, body, f"deleted the deploy key of {args.project}")


# Host keys


def _show_pins(args: argparse.Namespace, body: dict[str, Any]) -> int:
    if args.json:
        return show_json(body)
    for pin in body["host_keys"]:
        where = hosts.host_port(pin["host"], pin["port"])
        trust = f"trusted by {pin['accepted_by']}" if pin["trusted"] else "NOT TRUSTED"
        algorithm = pin["key"].split()[0]
        print(f"{pin['id']:<6} {where:<28} {algorithm:<20} {pin['fingerprint']}  {trust}")
    return Exit.OK


def cmd_hosts_list(args: argparse.Namespace, settings: Settings) -> int:
    return _show_pins(args, request(settings, "GET", _path("projects", args.project, "host-keys")))


def cmd_hosts_scan(args: argparse.Namespace, settings: Settings) -> int:
    body = {"host": args.host, "port": args.port}
    found = request(settings, "POST", _path("projects", args.project, "host-keys"), json=body)
    if not args.json and not all(pin["trusted"] for pin in found["host_keys"]):
        print("compare the fingerprint, then: capstan host-keys accept PROJECT ID", file=sys.stderr)
    return _show_pins(args, found)


def cmd_hosts_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.file == "-":
            lines = sys.stdin.read()
        else:
            with open(args.file) as source:
                lines = source.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    body = {"known_hosts": lines}
    added = request(settings, "POST", _path("projects", args.project, "host-keys"), json=body)
    return _show_pins(args, added)


def cmd_hosts_accept(args: argparse.Namespace, settings: Settings) -> int:
    path = _path("projects", args.project, "host-keys", args.id, "accept")
    pin = request(settings, "POST", path)
    return report(args, pin, f"trusted {pin['fingerprint']} for {pin['host']}:{pin['port']}")


def cmd_hosts_remove(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("projects", args.project, "host-keys", args.id))
    body = {"project": args.project, "deleted": args.id}
    return report(args, body, f"deleted host key {args.id} of {args.project}")
