"""Client commands for projects and what is done to their deployments: `projects`, `approve`,
`cancel`, `rollback`, and `secrets set | ls | rm` (over the HTTP API, like `app.cli.client`)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any
from urllib.parse import quote

from app.cli.client import command, report, request, show_json
from app.cli.exits import Exit
from app.errors import ConfigError
from app.settings import Settings


def register(sub: Any, secrets_sub: Any) -> None:
    """Add these commands to the parser's `sub` and to the `secrets` group's `secrets_sub`."""
    projects = command(
        sub, "projects", cmd_projects_ls, "list, show, create and delete projects",
        "List the projects you may see (the default), or show, create or delete one.",
    )  # fmt: skip
    projects_sub = projects.add_subparsers(title="commands", metavar="<command>")
    command(projects_sub, "ls", cmd_projects_ls, "list projects", "List projects.")
    show = command(projects_sub, "show", cmd_projects_show, "show a project",
                   "Show project NAME and its stages.")  # fmt: skip
    show.add_argument("name", metavar="NAME")
    create = command(
        projects_sub, "create", cmd_projects_create, "create a project",
        "Create a project from FILE (the API's JSON; - for stdin), or from NAME and flags. "
        "Stages run in the order given: --stage NAME=SCRIPT runs a bash script, --gate NAME "
        "waits for `capstan approve`. Prints the webhook secret this once.",
    )  # fmt: skip
    create.add_argument("name", metavar="NAME", nargs="?")
    create.add_argument("--file", metavar="FILE", help="the project as JSON (- for stdin)")
    create.add_argument("--repo", metavar="URL", help="git URL or local path to deploy")
    create.add_argument("--branch", help="the branch pushes deploy (default main)")
    create.add_argument("--stage", dest="stages", action="append", type=script_stage,
                        metavar="NAME=SCRIPT", help="a stage that runs SCRIPT")  # fmt: skip
    create.add_argument("--gate", dest="stages", action="append", type=gate_stage,
                        metavar="NAME", help="an approval gate")  # fmt: skip
    create.add_argument("--on-rollback", metavar="SCRIPT", help="run after a project rollback")
    delete = command(projects_sub, "rm", cmd_projects_rm, "delete a project",
                     "Delete project NAME and its history.")  # fmt: skip
    delete.add_argument("name", metavar="NAME")

    for verb, summary, text in (
        ("approve", "approve a waiting deployment",
         "Open the approval gate deployment ID waits at."),
        ("cancel", "cancel a deployment",
         "Cancel deployment ID: a pending one never starts, a running one's whole process "
         "tree is stopped."),
    ):  # fmt: skip
        action = command(sub, verb, cmd_action, summary, text)
        action.add_argument("id", metavar="ID")
        action.set_defaults(verb=verb)
    rollback = command(
        sub, "rollback", cmd_rollback, "stop a deployment, or roll a project back",
        "With ID: stop that running deployment and mark it ROLLED_BACK (current stays on the "
        "last completed release). With --project: re-activate an earlier completed release of "
        "NAME (default: the one before current) without rebuilding it, then run its "
        "on_rollback script; prints the new deployment's id.",
        usage="capstan rollback ID [--json]\n       capstan rollback --project NAME [--to ID] "
        "[--json]",
    )  # fmt: skip
    rollback.add_argument("id", metavar="ID", nargs="?")
    rollback.add_argument("--project", metavar="NAME", help="roll this project back")
    rollback.add_argument("--to", metavar="ID", help="the completed deployment to go back to")

    put = command(
        secrets_sub, "set", cmd_secrets_set, "set a project's secret",
        "Set secret NAME of PROJECT; the value is read from stdin, or asked for (never from "
        "the command line, where other users could read it).",
    )  # fmt: skip
    put.add_argument("project", metavar="PROJECT")
    put.add_argument("secret", metavar="NAME")
    names = command(secrets_sub, "ls", cmd_secrets_ls, "list a project's secrets",
                    "List PROJECT's names, never values.")  # fmt: skip
    names.add_argument("project", metavar="PROJECT")
    remove = command(secrets_sub, "rm", cmd_secrets_rm, "delete a project's secret",
                     "Delete secret NAME of PROJECT.")  # fmt: skip
    remove.add_argument("project", metavar="PROJECT")
    remove.add_argument("secret", metavar="NAME")


def script_stage(text: str) -> dict[str, Any]:
    name, sep, script = text.partition("=")
    if not sep or not name or not script:
        raise argparse.ArgumentTypeError(f"expected NAME=SCRIPT, got {text!r}")
    return {"name": name, "run": script}


def gate_stage(name: str) -> dict[str, Any]:
    return {"name": name, "approval": True}


def _path(*parts: str) -> str:
    return "/api/v1/" + "/".join(quote(part, safe="") for part in parts)


# Projects


def cmd_projects_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", "/api/v1/projects")
    if args.json:
        return show_json(body)
    for project in body["projects"]:
        stages = ",".join(stage["name"] for stage in project["stages"])
        print(f"{project['name']:<24} {project['branch']:<16} {stages}")
    return Exit.OK


def cmd_projects_show(args: argparse.Namespace, settings: Settings) -> int:
    project = request(settings, "GET", _path("projects", args.name))
    if args.json:
        return show_json(project)
    print(f"project {project['name']}")
    print(f"repo:        {project['repo_url'] or '-'}  branch {project['branch']}")
    print(f"concurrency: {project['concurrency']}  keep {project['keep_releases']} releases")
    print(f"current:     {project['current_deployment'] or '-'}")
    print(f"webhook:     {project['webhook_urls']['github']}")
    print("stages:")
    for stage in project["stages"]:
        what = stage.get("run") or ""
        gate = "[approval] " if stage.get("approval") else ""
        print(f"  {stage['name']:<20} {gate}{what}")
    return Exit.OK


def cmd_projects_create(args: argparse.Namespace, settings: Settings) -> int:
    body = _project_body(args)
    project = request(settings, "POST", "/api/v1/projects", json=body)
    if args.json:
        return show_json(project)
    print(f"created project {project['name']}")
    print(f"webhook:        {project['webhook_urls']['github']}")
    print(f"webhook secret: {project['webhook_secret']}   (shown this once)")
    return Exit.OK


def _project_body(args: argparse.Namespace) -> dict[str, Any]:
    flags = {"name": args.name, "repo_url": args.repo, "branch": args.branch,
             "stages": args.stages, "on_rollback": args.on_rollback}  # fmt: skip
    given = {key: value for key, value in flags.items() if value is not None}
    if args.file is None:
        if "name" not in given or "stages" not in given:
            raise ConfigError("give NAME and at least one --stage or --gate, or --file FILE")
        return given
    source = sys.stdin if args.file == "-" else open(args.file)  # noqa: SIM115
    with source:
        try:
            body = json.load(source)
        except ValueError as exc:
            raise ConfigError(f"{args.file} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ConfigError(f"{args.file} must hold a JSON object")
    return {**body, **given}


def cmd_projects_rm(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("projects", args.name))
    return report(args, {"deleted": args.name}, f"deleted project {args.name}")


# Deployments


def cmd_action(args: argparse.Namespace, settings: Settings) -> int:
    dep = request(settings, "POST", _path("deployments", args.id, args.verb))
    return report(args, dep, f"deployment {dep['id']}: {dep['status']}")


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    if (args.id is None) == (args.project is None) or (args.to and not args.project):
        raise ConfigError("give either ID, or --project NAME [--to ID]; see capstan rollback -h")
    if args.id:
        dep = request(settings, "POST", _path("deployments", args.id, "rollback"))
        return report(args, dep, f"deployment {dep['id']}: {dep['status']}")
    body = {"to": args.to} if args.to else {}
    dep = request(settings, "POST", _path("projects", args.project, "rollback"), json=body)
    if args.json:
        return show_json(dep)
    print(f"rollback {dep['id']} (#{dep['seq']}) queued for {dep['project']}", file=sys.stderr)
    print(dep["id"])
    return Exit.OK


# Secrets


def cmd_secrets_set(args: argparse.Namespace, settings: Settings) -> int:
    value = read_value(f"Value of {args.secret}: ")
    path = _path("projects", args.project, "secrets", args.secret)
    request(settings, "PUT", path, json={"value": value})
    body = {"project": args.project, "name": args.secret}
    return report(args, body, f"set {args.secret} for {args.project}")


def read_value(prompt: str) -> str:
    """A secret from a prompt (not echoed), or all of stdin less one final newline."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


def cmd_secrets_ls(args: argparse.Namespace, settings: Settings) -> int:
    body = request(settings, "GET", _path("projects", args.project, "secrets"))
    if args.json:
        return show_json(body)
    for secret in body["secrets"]:
        print(f"{secret['name']:<32} {secret['updated_at']}  {secret['updated_by'] or ''}")
    return Exit.OK


def cmd_secrets_rm(args: argparse.Namespace, settings: Settings) -> int:
    request(settings, "DELETE", _path("projects", args.project, "secrets", args.secret))
    body = {"project": args.project, "deleted": args.secret}
    return report(args, body, f"deleted {args.secret} of {args.project}")
