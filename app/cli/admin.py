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
        await audit.record(_actor(), "key.rotate",
                           details={"key_id": key_id(new_key), "values": count})  # fmt: skip
        return count

    count = asyncio.run(with_database(settings, rotate()))
    print(
        f"re-encrypted {count} value(s) under key {key_id(new_key)}; "
        "the old key is no longer needed"
    )
    return 0


def _actor() -> Any:
    from app.accounts import audit

    return audit.Actor("cli", "system")


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ConfigError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.accounts import users

    async def create() -> None:
        await users.create(_actor(), args.username, read_password(), args.role)

    asyncio.run(with_database(settings, create()))
    print(f"created user {args.username} ({args.role})")
    return 0


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from app.accounts import users

    async def passwd() -> None:
        user = await users.find(args.username)
        await users.update(_actor(), user, settings.data_dir, password=read_password())

    asyncio.run(with_database(settings, passwd()))
    print(f"password of {args.username} changed; their sessions ended")
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.accounts import users

    async def create() -> str:
        user = await users.find(args.username)
        _, secret = await users.issue_token(_actor(), user, args.name, args.expires_days)
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
