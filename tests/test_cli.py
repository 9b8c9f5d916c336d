"""The `capstan` command line, run as a real process against a running server."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Capstan

from app.cli.main import banner, build_parser, main

README = Path(__file__).resolve().parent.parent / "README.md"


async def capstan_cli(
    target: Capstan | str, *args: str, stdin: str = "", token: str | None = None
) -> tuple[int, str, str]:
    """Run the CLI against a running Capstan (with its admin token, or `token`) or a bare URL,
    with `stdin` as its standard input."""
    if isinstance(target, str):
        url = target
    else:
        url = target.settings.url
        admin = target.http.headers["Authorization"].removeprefix("Bearer ")
        token = admin if token is None else token
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args,
        env={**os.environ, "CAPSTAN_URL": url, "CAPSTAN_TOKEN": token or ""},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_commands_like_git() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: capstan <command> [<args>]")
    for command in ("serve", "worker", "migrate", "deploy", "logs", "status"):
        assert f"   {command}" in result.stdout
    assert "See 'capstan <command> --help'" in result.stdout
    bare = run_cli()
    assert bare.returncode == 1 and "usage: capstan" in bare.stdout


def test_every_command_has_help() -> None:
    for command in ("serve", "worker", "migrate", "deploy", "logs", "status"):
        result = run_cli(command, "--help")
        assert result.returncode == 0, result.stderr
        assert f"usage: capstan {command}" in result.stdout


def test_unknown_command_fails_clearly() -> None:
    result = run_cli("deplyo")
    assert result.returncode == 2 and "invalid choice" in result.stderr


async def test_deploy_follow_streams_the_log_and_reports_success(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "build", "run": "echo compiled"}, {"name": "ship", "run": "echo shipped"}]
    )
    code, out, err = await capstan_cli(capstan, "deploy", "web", "--follow")
    assert code == 0, err
    assert "compiled\n" in out and "shipped\n" in out
    assert "[1/2] build: running (attempt 1)" in err
    assert "[2/2] ship: succeeded (attempt 1)" in err
    assert "COMPLETED" in err
    deps = (await capstan.http.get("/api/v1/projects/web/deployments")).json()["deployments"]
    assert deps[0]["trigger"]["type"] == "cli"


async def test_deploy_follow_exits_non_zero_when_the_deployment_fails(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "exit 4"}])
    code, _out, err = await capstan_cli(capstan, "deploy", "web", "-f")
    assert code == 1 and "FAILED" in err


async def test_status_and_logs(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "echo hello"}])
    code, out, _ = await capstan_cli(capstan, "deploy", "web")
    assert code == 0
    dep_id = out.strip()
    await capstan.wait_for(dep_id, "COMPLETED")
    code, out, _ = await capstan_cli(capstan, "status", dep_id)
    assert code == 0 and "COMPLETED" in out and "build" in out and "succeeded" in out
    code, out, _ = await capstan_cli(capstan, "logs", dep_id)
    assert code == 0 and out == "==> build (attempt 1)\nhello\n"
    code, out, _ = await capstan_cli(capstan, "logs", dep_id, "--follow")
    assert code == 0 and "hello" in out


async def test_client_errors_are_reported_with_their_code(capstan: Capstan) -> None:
    code, _out, err = await capstan_cli(capstan, "deploy", "missing")
    assert code == 3 and "project_not_found" in err
    code, _out, err = await capstan_cli("http://127.0.0.1:9", "status", "x")
    assert code == 6 and "cannot reach Capstan" in err


def readme_commands() -> set[tuple[str, ...]]:
    """The commands the README's Command line block lists: each `capstan` line's leading words."""
    section = README.read_text().split("## Command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    commands: set[tuple[str, ...]] = set()
    for line in block.splitlines():
        if line.startswith("capstan "):
            words = re.match(r"capstan((?: [a-z][a-z-]*)+)", line)
            assert words, line
            commands.add(tuple(words.group(1).split()))
    return commands


def parser_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> set[tuple[str, ...]]:
    """Every command the parser knows, groups and their commands, as tuples of words."""
    found: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= {(*prefix, name)} | parser_commands(sub, (*prefix, name))
    return found


def test_the_readme_lists_every_command_and_each_has_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listed = readme_commands()
    known = parser_commands(build_parser())
    leaves = {c for c in known if not any(o[: len(c)] == c and o != c for o in known)}
    assert listed <= known, f"in the README but not the CLI: {sorted(listed - known)}"
    missing = {c for c in leaves if c not in listed and not (c[-1] == "ls" and c[:-1] in listed)}
    assert not missing, f"not in the README: {sorted(missing)}"
    for command in sorted(listed):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        assert f"usage: capstan {' '.join(command)}" in capsys.readouterr().out


async def test_the_banner_names_only_addresses_that_answer(capstan: Capstan) -> None:
    text = banner(capstan.settings)
    urls = re.findall(r"(http://\S+)", text)
    assert f"{capstan.settings.url}/" in urls
    for url in urls:
        response = await capstan.http.get(url)
        assert response.status_code == 200, url
