"""Client commands for notifications: `capstan notify providers | channels | subscribe |
unsubscribe | subscriptions`, over the HTTP API.

Secret fields (a webhook URL, a bot token, a password) are never taken from the command line,
where other users could read them: `--secret NAME` reads the value from stdin or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Any
from urllib.parse import quote

from app.cli.client import command, report, request, show_json
from app.cli.exits import Exit
from app.domain.notify import FIELDS, EventKind, ProviderKind
from app.errors import ConfigError
from app.settings import Settings

SECRET_FIELDS = frozenset(
    name for fields in FIELDS.values() for name in (*fields.provider_secret, *fields.channel_secret)
)
INTEGER = re.compile(r"-?[0-9]+")


def register(sub: Any) -> None:
    notify = sub.add_parser(
        "notify",
        help="notification providers, channels and subscriptions",
        description="Tell people what deployments do: providers hold a service's credentials "
        "(admins and managers), channels are where messages go, subscriptions say which "
        "events of which project go to a channel (a project's owners; every project's: "
        "admins).",
    )
    notify.set_defaults(func=lambda args, settings: _usage(notify))
    notify_sub = notify.add_subparsers(title="commands", metavar="<command>")
    _providers(notify_sub)
    _channels(notify_sub)
    _subscriptions(notify_sub)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return Exit.ERROR


def _settable(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="fields", action="append", type=field, default=[],
                        metavar="KEY=VALUE", help="a plain field (repeatable)")  # fmt: skip
    parser.add_argument("--secret", dest="secrets", action="append", default=[],
                        metavar="KEY", help="a secret field: its value is read from stdin "
                        "(one line each, in order, when several) or asked for")  # fmt: skip


def _providers(notify_sub: Any) -> None:
    kinds = ", ".join(ProviderKind)
    providers = command(
        notify_sub, "providers", cmd_providers_ls, "list, add and delete providers",
        "Notification providers: a service's credentials and settings. Without a command, "
        "list them (secret fields by name only).",
    )  # fmt: skip
    providers_sub = providers.add_subparsers(title="commands", metavar="<command>")
    command(providers_sub, "ls", cmd_providers_ls, "list providers", "List providers.")
    add = command(
        providers_sub, "add", cmd_providers_add, "add a provider",
        f"Add provider NAME of KIND ({kinds}). Plain fields with --set (host=smtp.example.com, "
        "port=587), secret ones with --secret (password, signing_secret, bot_token).",
    )  # fmt: skip
    add.add_argument("name", metavar="NAME")
    add.add_argument("--kind", required=True, metavar="KIND", help=kinds)
    _settable(add)
    remove = command(providers_sub, "rm", cmd_providers_rm, "delete a provider",
                     "Delete provider NAME and its channels.")  # fmt: skip
    remove.add_argument("name", metavar="NAME")


def _channels(notify_sub: Any) -> None:
    channels = command(
        notify_sub, "channels", cmd_channels_ls, "list, add, test and delete channels",
        "Notification channels: where a provider's messages go, and whether they arrive. "
        "Without a command, list them.",
    )  # fmt: skip
    channels_sub = channels.add_subparsers(title="commands", metavar="<command>")
    command(channels_sub, "ls", cmd_channels_ls, "list channels", "List channels and health.")
    add = command(
        channels_sub, "add", cmd_channels_add, "add a channel",
        "Add channel NAME under provider P: a webhook URL (--secret url, read from stdin), a "
        "Telegram chat (--set chat_id=...), or email recipients (--to, repeatable).",
    )  # fmt: skip
    add.add_argument("name", metavar="NAME")
    add.add_argument("--provider", required=True, metavar="P", help="the provider's name")
    _settable(add)
    add.add_argument("--to", action="append", metavar="ADDRESS", help="an email recipient")
    add.add_argument("--timeout", type=float, metavar="S", help="seconds per attempt")
    for verb, func, summary, text in (
        ("rm", cmd_channels_rm, "delete a channel",
         "Delete channel NAME, its subscriptions and its deliveries."),
        ("test", cmd_channels_test, "send a test message",
         "Send a test message to channel NAME alone; print its delivery id (follow it with "
         "`capstan notify channels log NAME`)."),
    ):  # fmt: skip
        action = command(channels_sub, verb, func, summary, text)
        action.add_argument("name", metavar="NAME")
    log = command(channels_sub, "log", cmd_channels_log, "a channel's deliveries",
                  "List channel NAME's deliveries, newest first.")  # fmt: skip
    log.add_argument("name", metavar="NAME")
    log.add_argument("--limit", type=int, help="how many (default 20, at most 100)")
    log.add_argument("--before", metavar="ID", help="older than this delivery")


def _subscriptions(notify_sub: Any) -> None:
    events = ", ".join(EventKind)
    subscribe = command(
        notify_sub, "subscribe", cmd_subscribe, "send a project's events to a channel",
        f"Send PROJECT's EVENTS ({events}) to CHANNEL; with --all-projects instead of "
        "PROJECT, every project's, and outage and recovered too (admins).",
        usage="capstan notify subscribe PROJECT CHANNEL --events E,E [--json]\n"
        "       capstan notify subscribe --all-projects CHANNEL --events E,E [--json]",
    )  # fmt: skip
    subscribe.add_argument("names", nargs="*", metavar="PROJECT CHANNEL")
    subscribe.add_argument("--events", required=True, type=events_list, metavar="E,E",
                           help="comma-separated events")  # fmt: skip
    _all_projects(subscribe)
    unsubscribe = command(
        notify_sub, "unsubscribe", cmd_unsubscribe, "delete a subscription",
        "Delete subscription ID of PROJECT (or, with --all-projects, an all-projects one).",
        usage="capstan notify unsubscribe PROJECT ID [--json]\n"
        "       capstan notify unsubscribe --all-projects ID [--json]",
    )  # fmt: skip
    unsubscribe.add_argument("names", nargs="*", metavar="PROJECT ID")
    _all_projects(unsubscribe)
    listing = command(
        notify_sub, "subscriptions", cmd_subscriptions, "list subscriptions",
        "List PROJECT's subscriptions; without PROJECT, every subscription (admins).",
    )  # fmt: skip
    listing.add_argument("project", metavar="PROJECT", nargs="?")


def _all_projects(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all-projects", action="store_true",
                        help="every project's events, outages too (admins)")  # fmt: skip


def field(text: str) -> tuple[str, Any]:
    """KEY=VALUE; an integer VALUE (a port, a chat id) is sent as a number."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key in SECRET_FIELDS:
        raise argparse.ArgumentTypeError(
            f"{key} is secret: give --secret {key} and its value on stdin, not in the command"
        )
    return key, int(value) if INTEGER.fullmatch(value) else value


def events_list(text: str) -> list[str]:
    return [event.strip() for event in text.split(",") if event.strip()]


def _path(*parts: str) -> str:
    return "/api/v1/" + "/".join(quote(part, safe="") for part in parts)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields given with --set, and the --secret ones read from stdin or prompts."""
    fields: dict[str, Any] = dict(args.fields)
    secrets: list[str] = args.secrets
    for name in secrets:
        if name in fields:
            raise ConfigError(f"{name} is given twice")
    if len(secrets) == 1:
        fields[secrets[0]] = read_value(f"{secrets[0]}: ")
    elif secrets and sys.stdin.isatty():
        fields.update({name: getpass.getpass(f"{name}: ") for name in secrets})
    elif secrets:
        lines = sys.stdin.read().splitlines()
        if len(lines) < len(secrets):
            raise ConfigError(f"stdin holds {len(lines)} lines for {len(secrets)} secrets")
        fields.update(zip(secrets, lines, strict=False))
    return fields


def read_value(prompt: str) -> str:
    """A secret from a prompt (not echoed), or all of stdin less one final newline."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


# Providers


def cmd_providers_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", _path("notifications", "providers"))
    if args.json:
        return show_json(body)
    for provider in body["providers"]:
        plain = " ".join(f"{k}={v}" for k, v in sorted(provider["settings"].items()))
        secrets = ",".join(provider["secrets"]) or "-"
        print(f"{provider['name']:<24} {provider['kind']:<11} secrets: {secrets:<20} {plain}")
    return Exit.OK


def cmd_providers_add(args: argparse.Namespace, settings: Settings) -> int:
    body = {"name": args.name, "kind": args.kind, "settings": _fields(args)}
    provider = request(settings, "POST", _path("notifications", "providers"), json=body)
    secrets = ", ".join(provider["secrets"]) or "none"
    text = f"added provider {provider['name']} ({provider['kind']}; secrets: {secrets})"
    return report(args, provider, text)


def cmd_providers_rm(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("notifications", "providers", args.name))
    return report(args, {"deleted": args.name}, f"deleted provider {args.name}")


# Channels


def cmd_channels_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", _path("notifications", "channels"))
    if args.json:
        return show_json(body)
    for channel in body["channels"]:
        health = "healthy" if channel["healthy"] else f"UNHEALTHY ({channel['failures']} failed)"
        error = f"  last error: {channel['last_error']}" if channel["last_error"] else ""
        print(f"{channel['name']:<24} {channel['provider']:<24} {channel['kind']:<11} "
              f"{health}{error}")  # fmt: skip
    return Exit.OK


def cmd_channels_add(args: argparse.Namespace, settings: Settings) -> int:
    target = _fields(args)
    if args.to:
        target["to"] = args.to
    body: dict[str, Any] = {"name": args.name, "provider": args.provider, "target": target}
    if args.timeout is not None:
        body["timeout"] = args.timeout
    channel = request(settings, "POST", _path("notifications", "channels"), json=body)
    return report(args, channel, f"added channel {channel['name']} ({channel['provider']})")


def cmd_channels_rm(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("notifications", "channels", args.name))
    return report(args, {"deleted": args.name}, f"deleted channel {args.name}")


def cmd_channels_test(args: argparse.Namespace, settings: Settings) -> int:
    sent = request(settings, "POST", _path("notifications", "channels", args.name, "test"))
    if args.json:
        return show_json(sent)
    print(f"test message queued for {args.name}", file=sys.stderr)
    print(sent["delivery"])
    return Exit.OK


def cmd_channels_log(args: argparse.Namespace, settings: Settings) -> int:
    query = {k: v for k, v in (("limit", args.limit), ("before", args.before)) if v is not None}
    path = _path("notifications", "channels", args.name, "deliveries")
    body = request(settings, "GET", path, params=query)
    if args.json:
        return show_json(body)
    for row in body["deliveries"]:
        code = row["response_code"] if row["response_code"] is not None else "-"
        print(f"{row['created_at']}  {row['id']}  {row['status']:<8} {row['event']:<18} "
              f"{row['project'] or '-':<24} attempts {row['attempts']}  code {code}  "
              f"{row['reason'] or ''}".rstrip())  # fmt: skip
    return Exit.OK


# Subscriptions


def _project_and(args: argparse.Namespace, what: str) -> tuple[str | None, str]:
    """(PROJECT, the other argument), or (None, it) with --all-projects."""
    names: list[str] = args.names
    if args.all_projects and len(names) == 1:
        return None, names[0]
    if not args.all_projects and len(names) == 2:
        return names[0], names[1]
    raise ConfigError(f"give PROJECT {what}, or --all-projects {what}")


def _subscriptions_path(project: str | None, *rest: str) -> str:
    if project is None:
        return _path("notifications", "subscriptions", *rest)
    return _path("projects", project, "subscriptions", *rest)


def cmd_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    project, channel = _project_and(args, "CHANNEL")
    body = {"channel": channel, "events": args.events}
    sub = request(settings, "POST", _subscriptions_path(project), json=body)
    where = sub["project"] or "every project"
    return report(args, sub, f"subscribed {sub['channel']} to {', '.join(sub['events'])} of "
                             f"{where} (subscription {sub['id']})")  # fmt: skip


def cmd_unsubscribe(args: argparse.Namespace, settings: Settings) -> int:
    project, sub_id = _project_and(args, "ID")
    request(settings, "DELETE", _subscriptions_path(project, sub_id))
    return report(args, {"deleted": sub_id}, f"deleted subscription {sub_id}")


def cmd_subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", _subscriptions_path(args.project))
    if args.json:
        return show_json(body)
    for sub in body["subscriptions"]:
        print(f"{sub['id']}  {sub['project'] or '*':<24} {sub['channel']:<24} "
              f"{','.join(sub['events'])}")  # fmt: skip
    return Exit.OK
