"""Client commands for people: `users` and `tokens`, over the HTTP API.

Not to be confused with the maintenance commands `user` and `token` (`app.cli.admin`), which
open the database directly, for when no one can sign in yet.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from app.cli.admin import read_password
from app.cli.client import command, report, request, show_json
from app.cli.exits import Exit
from app.errors import ConfigError
from app.settings import Settings


def register(sub: Any) -> None:
    users = command(
        sub, "users", cmd_users_ls, "list, create, change and delete users",
        "Manage users through the server (admins; managers may list). Without a command, "
        "list them.",
    )  # fmt: skip
    users_sub = users.add_subparsers(title="commands", metavar="<command>")
    command(users_sub, "ls", cmd_users_ls, "list users", "List users and roles.")
    create = command(
        users_sub, "create", cmd_users_create, "create a user",
        "Create USERNAME with ROLE; the password is asked for, or read from stdin.",
    )  # fmt: skip
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--role", default="developer", help="admin, manager, developer, viewer")
    change = command(
        users_sub, "set", cmd_users_set, "change a user's role, password or access",
        "Change USERNAME: a new role, a new password (asked for, or read from stdin), or "
        "disable or enable them. A new password or disabling signs them out.",
    )  # fmt: skip
    change.add_argument("username", metavar="USERNAME")
    change.add_argument("--role", help="admin, manager, developer, viewer")
    change.add_argument("--password", action="store_true", help="set a new password")
    access = change.add_mutually_exclusive_group()
    access.add_argument("--disable", dest="disabled", action="store_true", default=None)
    access.add_argument("--enable", dest="disabled", action="store_false")
    remove = command(users_sub, "rm", cmd_users_rm, "delete a user", "Delete USERNAME.")
    remove.add_argument("username", metavar="USERNAME")

    tokens = command(
        sub, "tokens", cmd_tokens_ls, "list, create and revoke your API tokens",
        "Manage your own API tokens through the server. Without a command, list them (never "
        "the tokens themselves).",
    )  # fmt: skip
    tokens_sub = tokens.add_subparsers(title="commands", metavar="<command>")
    command(tokens_sub, "ls", cmd_tokens_ls, "list your tokens", "List your tokens.")
    create = command(
        tokens_sub, "create", cmd_tokens_create, "create a token",
        "Create an API token for yourself and print it (shown this once).",
    )  # fmt: skip
    create.add_argument("--name", default="cli", help="a name to recognise it by")
    create.add_argument("--expires-days", type=int, metavar="DAYS", help="expire after DAYS")
    revoke = command(tokens_sub, "revoke", cmd_tokens_revoke, "revoke a token",
                     "Revoke token ID (admins: anyone's).")  # fmt: skip
    revoke.add_argument("id", metavar="ID")


def _user_path(username: str) -> str:
    return f"/api/v1/users/{quote(username, safe='')}"


# Users


def cmd_users_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", "/api/v1/users")
    if args.json:
        return show_json(body)
    for user in body["users"]:
        state = "  disabled" if user["disabled"] else ""
        print(f"{user['username']:<32} {user['role']:<10}{state}")
    return Exit.OK


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    fields = {"username": args.username, "role": args.role, "password": read_password()}
    user = request(settings, "POST", "/api/v1/users", json=fields)
    return report(args, user, f"created user {user['username']} ({user['role']})")


def cmd_users_set(args: argparse.Namespace, settings: Settings) -> int:
    fields: dict[str, Any] = {"role": args.role, "disabled": args.disabled}
    fields = {key: value for key, value in fields.items() if value is not None}
    if args.password:
        fields["password"] = read_password()
    if not fields:
        raise ConfigError("nothing to change: give --role, --password, --disable or --enable")
    user = request(settings, "PATCH", _user_path(args.username), json=fields)
    state = ", disabled" if user["disabled"] else ""
    return report(args, user, f"user {user['username']}: {user['role']}{state}")


def cmd_users_rm(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _user_path(args.username))
    return report(args, {"deleted": args.username}, f"deleted user {args.username}")


# Tokens


def cmd_tokens_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", "/api/v1/tokens")
    if args.json:
        return show_json(body)
    for token in body["tokens"]:
        expires = token["expires_at"] or "never"
        used = token["last_used_at"] or "never"
        print(f"{token['id']}  {token['prefix']}…  {token['name']:<20} "
              f"expires {expires}  used {used}")  # fmt: skip
    return Exit.OK


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    fields: dict[str, Any] = {"name": args.name}
    if args.expires_days is not None:
        fields["expires_in_days"] = args.expires_days
    token = request(settings, "POST", "/api/v1/tokens", json=fields)
    return report(args, token, token["token"])


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", f"/api/v1/tokens/{quote(args.id, safe='')}")
    return report(args, {"revoked": args.id}, f"revoked token {args.id}")
