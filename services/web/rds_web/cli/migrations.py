"""``rds migration ...``: project migrations (through the API).

    rds migration list [--project P] [--type pre|post] [--state S]
    rds migration apply ID [--wait]       run a migration up (post: after the delay)
    rds migration rollback ID [--wait]    run an applied migration down
    rds migration run-pre RELEASE_ID [--wait]
                                          "Run pre migrations" of a release, in order

``--wait`` waits until the migration (every one, for ``run-pre``) ended and
exits non-zero, with the script's last output, when one failed.
"""
from typing import Any

import click

from rds_web.cli.common import Cli, api, emit, json_option, pass_cli, table, wait_option
from rds_web.client import ApiClient, ApiError

FAILED = {"failed", "rollback_failed"}


def wait_for(client: ApiClient, migration_id: int, states: set[str],
             timeout: float = 3600.0) -> dict[str, Any]:
    """Long-poll until the migration is in one of ``states``; raise on failure."""
    data = client.wait_until("/migrations/%d/wait" % migration_id, "state", states, FAILED,
                             lambda m: "migration %s" % m["name"], timeout)
    if data["state"] not in states:
        raise ApiError(409, "migration %s %s: %s" % (data["name"], data["state"],
                                                      data.get("last_error")))
    return data


def migration_lines(data: dict[str, Any]) -> list[str]:
    lines = ["%s %s migration %s  #%s  %s%s" % (
        data["project"], data["type"], data["name"], data["id"], data["state"],
        "  (%.1f day(s) left)" % data["days_left"] if data.get("days_left") else "")]
    if data.get("last_error"):
        lines.append("  error: %s" % data["last_error"])
    return lines


@click.group()
def migration() -> None:
    """Project migrations (pre/post): list, apply, roll back, run a release's pre ones."""


@migration.command("list")
@click.option("--project")
@click.option("--type", "kind", type=click.Choice(["pre", "post"]))
@click.option("--state")
@json_option
@pass_cli
@api
def migration_list(cli: Cli, project: str | None, kind: str | None, state: str | None,
                   as_json: bool) -> None:
    """Migrations, newest first."""
    params = "&".join("%s=%s" % (k, v) for k, v in
                      (("project", project), ("type", kind), ("state", state)) if v)
    data = cli.client().get("/migrations" + ("?" + params if params else ""))
    emit(data, as_json, lambda d: table(
        [[m["id"], m["project"], m["type"], m["name"], m["release_version"], m["state"],
          "%.1f" % m["days_left"] if m["days_left"] else ""] for m in d["migrations"]],
        ["ID", "PROJECT", "TYPE", "NAME", "FIRST IN", "STATE", "DAYS LEFT"]))


def _act(cli: Cli, verb: str, migration_id: int, wait: bool, done: str, as_json: bool) -> None:
    data = cli.client().post("/migrations/%d/%s" % (migration_id, verb))
    if wait:
        data = wait_for(cli.client(), migration_id, {done})
    emit(data, as_json, migration_lines)


@migration.command("apply")
@click.argument("migration_id", type=int)
@wait_option("it is applied")
@json_option
@pass_cli
@api
def migration_apply(cli: Cli, migration_id: int, wait: bool, as_json: bool) -> None:
    """Run a migration up."""
    _act(cli, "apply", migration_id, wait, "applied", as_json)


@migration.command("rollback")
@click.argument("migration_id", type=int)
@wait_option("it is rolled back (pending again)")
@json_option
@pass_cli
@api
def migration_rollback(cli: Cli, migration_id: int, wait: bool, as_json: bool) -> None:
    """Run an applied migration down."""
    _act(cli, "rollback", migration_id, wait, "pending", as_json)


@migration.command("run-pre")
@click.argument("release_id", type=int)
@wait_option("every pending pre migration is applied")
@json_option
@pass_cli
@api
def migration_run_pre(cli: Cli, release_id: int, wait: bool, as_json: bool) -> None:
    """Run the pending pre migrations of a release, in order."""
    client = cli.client()
    release = client.post("/releases/%d/pre-migrations" % release_id)
    if wait:
        listed = client.get("/migrations?project=%s&type=pre" % release["project"])
        ids = {m["name"]: m["id"] for m in listed["migrations"]}
        for name in release["pending_pre_migrations"]:
            wait_for(client, ids[name], {"applied"})
        release = client.get("/releases/%d" % release_id)
    emit(release, as_json, lambda r: ["%s %s  #%s  %s  pre migrations: %s%s" % (
        r["project"], r["version"], r["id"], r["status"], r["pre_migrations_status"],
        "  (pending: %s)" % ", ".join(r["pending_pre_migrations"])
        if r["pending_pre_migrations"] else "")])
