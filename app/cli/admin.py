"""The CLI's maintenance commands, run against the database directly: `secrets`, `user`,
`token`, `audit`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from app import datadir, db
from app.errors import ConfigError
from app.settings import Settings


async def with_database(settings: Settings, work: Any) -> Any:
    from tortoise import Tortoise

    datadir.prepare(settings)
    await db.migrate(settings)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        return await work
    finally:
        await Tortoise.close_connections()


def cmd_secrets_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.keyring import rotation

    counts, failures = asyncio.run(with_database(settings, rotation.check(settings)))
    for kid, count in sorted(counts.items()):
        print(f"{count} value(s) under key {kid}: ok")
    for failure in failures:
        print(f"cannot decrypt {failure}", file=sys.stderr)
    if not counts and not failures:
        print("no encrypted values stored")
    return 1 if failures else 0


def cmd_secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from app.keyring import keys, rotation
    from app.keyring.vault import key_id

    source = sys.stdin if args.new_key_file == "-" else open(args.new_key_file)  # noqa: SIM115
    with source:
        new_key = keys.parse_key(source.read(), "the new key")

    async def rotate() -> int:
        from app.accounts import audit

        count = await rotation.rotate(settings, new_key)
        await audit.record(audit.Actor("cli", "system"), "key.rotate",
                           details={"key_id": key_id(new_key), "values": count})  # fmt: skip
        return count

    count = asyncio.run(with_database(settings, rotate()))
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
    from app.accounts import audit, auth
    from app.models import User

    async def create() -> None:
        username = auth.check_username(args.username)
        role = auth.check_role(args.role)
        password_hash = await auth.hash_password(read_password(), username)
        await User.create(username=username, password_hash=password_hash, role=role)
        await audit.record(audit.Actor("cli", "system"), "user.create", target=username,
                           details={"role": role})  # fmt: skip

    asyncio.run(with_database(settings, create()))
    print(f"created user {args.username} ({args.role})")
    return 0


async def _user(username: str) -> Any:
    from app.models import User

    user = await User.get_or_none(username=username)
    if user is None:
        raise ConfigError(f"no user {username!r}")
    return user


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from app.accounts import audit, auth

    async def passwd() -> None:
        user = await _user(args.username)
        user.password_hash = await auth.hash_password(read_password(), user.username)
        await user.save()
        await auth.end_sessions(user.id)
        await auth.retire_initial_password(settings.data_dir)
        await audit.record(audit.Actor("cli", "system"), "user.update", target=user.username,
                           details={"password_changed": True})  # fmt: skip

    asyncio.run(with_database(settings, passwd()))
    print(f"password of {args.username} changed; their sessions ended")
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from app.accounts import audit, auth

    async def create() -> str:
        user = await _user(args.username)
        days = args.expires_days
        expires = auth.now() + dt.timedelta(days=days) if days else None
        token, secret = await auth.create_token(user, args.name, expires)
        await audit.record(audit.Actor("cli", "system"), "token.create", target=str(token.id),
                           details={"user": user.username, "name": args.name})  # fmt: skip
        return secret

    print(asyncio.run(with_database(settings, create())))
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app.accounts import audit

    checked, broken, why = asyncio.run(with_database(settings, audit.verify()))
    if broken is None:
        print(f"{checked} events, {why}")
        return 0
    print(f"event {broken} is broken: {why} ({checked} events before it are intact)")
    return 1
