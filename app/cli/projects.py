"""Client commands for projects and what is done to their deployments: `projects`, `approve`,
`cancel`, `rollback`, and `secrets set | ls | rm` (over the HTTP API, like `app.cli.client`)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any
from urllib.parse import quote

from app.cli.client import json_flag, report, request, show_json
from app.cli.exits import Exit
from app.errors import ConfigError
from app.settings import Settings


def register(sub: Any, secrets_sub: Any) -> None:
    """Add these commands to the parser's `sub` and to the `secrets` group's `secrets_sub`."""
    projects = sub.add_parser(
        "projects", help="list, show, create and delete projects",
        description="List the projects you may see (the default), or show, create or delete one.",
    )  # fmt: skip
    json_flag(projects)
    projects.set_defaults(func=cmd_projects_ls)
    projects_sub = projects.add_subparsers(title="commands", metavar="<command>")
    ls = projects_sub.add_parser("ls", help="list projects", description="List projects.")
    json_flag(ls)
    ls.set_defaults(func=cmd_projects_ls)
    show = projects_sub.add_parser("show", help="show a project",
                                   description="Show project NAME and its stages.")  # fmt: skip
    show.add_argument("name", metavar="NAME")
    json_flag(show)
    show.set_defaults(func=cmd_projects_show)
    create = projects_sub.add_parser(
        "create", help="create a project",
        description="Create a project from FILE (the API's JSON; - for stdin), or from NAME and "
        "flags. Stages run in the order given: --stage NAME=SCRIPT runs a bash script, "
        "--gate NAME waits for `capstan approve`. Prints the webhook secret this once.",
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
    json_flag(create)
    create.set_defaults(func=cmd_projects_create)
    delete = projects_sub.add_parser(
        "rm", help="delete a project", description="Delete project NAME and its history."
    )
    delete.add_argument("name", metavar="NAME")
    json_flag(delete)
    delete.set_defaults(func=cmd_projects_rm)

    for verb, summary, text in (
        ("approve", "approve a waiting deployment",
         "Open the approval gate deployment ID waits at."),
        ("cancel", "cancel a deployment",
         "Cancel deployment ID: a pending one never starts, a running one's whole process "
         "tree is stopped."),
    ):  # fmt: skip
        action = sub.add_parser(verb, help=summary, description=text)
        action.add_argument("id", metavar="ID")
        json_flag(action)
        action.set_defaults(func=cmd_action, verb=verb)
    rollback = sub.add_parser(
        "rollback", help="stop a deployment, or roll a project back",
        usage="capstan rollback ID [--json]\n       capstan rollback --project NAME [--to ID] "
        "[--json]",
        description="With ID: stop that running deployment and mark it ROLLED_BACK (current "
        "stays on the last completed release). With --project: re-activate an earlier "
        "completed release of NAME (default: the one before current) without rebuilding it, "
        "then run its on_rollback script; prints the new deployment's id.",
    )  # fmt: skip
    rollback.add_argument("id", metavar="ID", nargs="?")
    rollback.add_argument("--project", metavar="NAME", help="roll this project back")
    rollback.add_argument("--to", metavar="ID", help="the completed deployment to go back to")
    json_flag(rollback)
    rollback.set_defaults(func=cmd_rollback)

    put = secrets_sub.add_parser(
        "set", help="set a project's secret",
        description="Set secret NAME of PROJECT; the value is read from stdin, or asked for "
        "(never from the command line, where other users could read it).",
    )  # fmt: skip
    put.add_argument("project", metavar="PROJECT")
    put.add_argument("secret", metavar="NAME")
    json_flag(put)
    put.set_defaults(func=cmd_secrets_set)
    names = secrets_sub.add_parser(
        "ls", help="list a project's secrets", description="List PROJECT's names, never values."
    )
    names.add_argument("project", metavar="PROJECT")
    json_flag(names)
    names.set_defaults(func=cmd_secrets_ls)
    remove = secrets_sub.add_parser("rm", help="delete a project's secret",
                                    description="Delete secret NAME of PROJECT.")  # fmt: skip
    remove.add_argument("project", metavar="PROJECT")
    remove.add_argument("secret", metavar="NAME")
    json_flag(remove)
    remove.set_defaults(func=cmd_secrets_rm)


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
