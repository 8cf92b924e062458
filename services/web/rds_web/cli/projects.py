"""``rds project ...``: list, show, create, update, revert."""
import json
from typing import IO, Any

import click

from rds_web.cli.common import Cli, api, emit, json_option, pass_cli, table, wait_option
from rds_web.cli.releases import release_lines


@click.group()
def project() -> None:
    """Projects: settings, servers, scripts; revert to the previous live version."""


def project_lines(data: dict[str, Any]) -> list[str]:
    lines = ["%s  (live: %s)" % (data["name"], data["live_version"] or "none"),
             "  repository:  %s @ %s" % (data["repository"], data["default_ref"]),
             "  deploy path: %s   pool: %s   keep: %s" % (
                 data["deploy_path"], data["agent_pool"], data["keep_releases"])]
    for server in data["servers"]:
        lines.append("  server %s@%s:%s  current: %s" % (
            server["user"], server["host"], server["port"], server["current_version"] or "-"))
    lines.append("  scripts: %s" % (", ".join(sorted(data["scripts"])) or "-"))
    return lines


def _read_json(spec: IO[str]) -> dict[str, Any]:
    try:
        data = json.load(spec)
    except ValueError as exc:
        raise click.BadParameter("not JSON: %s" % exc, param_hint="FILE") from None
    if not isinstance(data, dict):
        raise click.BadParameter("expected a JSON object", param_hint="FILE")
    return data


@project.command("list")
@json_option
@pass_cli
@api
def project_list(cli: Cli, as_json: bool) -> None:
    """Every project with its live version."""
    data = cli.client().get("/projects")
    emit(data, as_json, lambda d: table(
        [[p["name"], p["live_version"] or "-", len(p["servers"]), p["repository"]]
         for p in d["projects"]], ["NAME", "LIVE", "SERVERS", "REPOSITORY"]))


@project.command("show")
@click.argument("name")
@json_option
@pass_cli
@api
def project_show(cli: Cli, name: str, as_json: bool) -> None:
    """A project with its servers, scripts and live version."""
    emit(cli.client().get("/projects/%s" % name), as_json, project_lines)


@project.command("create")
@click.argument("spec", metavar="FILE", type=click.File())
@json_option
@pass_cli
@api
def project_create(cli: Cli, spec: IO[str], as_json: bool) -> None:
    """Create a project from a JSON file (README "Configuration" lists the fields)."""
    emit(cli.client().post("/projects", _read_json(spec)), as_json, project_lines)


@project.command("update")
@click.argument("name")
@click.argument("spec", metavar="[FILE]", type=click.File(), required=False)
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Change one field (VALUE is JSON, or a plain string); repeatable.")
@json_option
@pass_cli
@api
def project_update(cli: Cli, name: str, spec: IO[str] | None, assignments: tuple[str, ...],
                   as_json: bool) -> None:
    """Change some fields of a project from a JSON file and/or --set FIELD=VALUE."""
    body = _read_json(spec) if spec is not None else {}
    for assignment in assignments:
        field, sep, raw = assignment.partition("=")
        if not sep or not field:
            raise click.BadParameter("expected FIELD=VALUE, got %r" % assignment,
                                     param_hint="--set")
        try:
            body[field] = json.loads(raw)
        except ValueError:
            body[field] = raw
    if not body:
        raise click.UsageError("nothing to change: give a FILE or --set FIELD=VALUE")
    emit(cli.client().patch("/projects/%s" % name, body), as_json, project_lines)


@project.command("revert")
@click.argument("name")
@wait_option("the previous version is live")
@json_option
@pass_cli
@api
def project_revert(cli: Cli, name: str, wait: bool, as_json: bool) -> None:
    """Activate the version that was live before the current one."""
    client = cli.client()
    data = client.post("/projects/%s/revert" % name)
    if wait:
        data = client.wait_release(data["id"], {"used"})
    emit(data, as_json, release_lines)


@project.command("retention")
@click.argument("name")
@json_option
@pass_cli
@api
def project_retention(cli: Cli, name: str, as_json: bool) -> None:
    """Dry run of retention: what garbage collection removes next, and why the rest stays."""
    emit(cli.client().get("/projects/%s/retention" % name), as_json, retention_lines)


def retention_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for verdict in ("remove", "keep"):
        for item in data.get(verdict, []):
            lines.append("%-6s %-16s %s" % (verdict, item.get("version", "?"),
                                            item.get("reason", "")))
    return lines or ["nothing to decide"]


@project.command("check-servers")
@click.argument("name")
@json_option
@pass_cli
@api
def project_check_servers(cli: Cli, name: str, as_json: bool) -> None:
    """Read ``current`` and the release directories of every server now (drift check)."""
    emit(cli.client().post("/projects/%s/check-servers" % name), as_json,
         lambda d: ["inspection task %s started" % d.get("task_id", d.get("id", "?"))])
