"""``rds migration ...``: project migrations from the command line (through the API).

    rds migration list [--project P] [--type pre|post] [--state S]
    rds migration apply ID [--wait]       run a migration up (post: after the delay)
    rds migration rollback ID [--wait]    run an applied migration down
    rds migration run-pre RELEASE_ID [--wait]
                                          "Run pre migrations" of a release, in order

``--wait`` waits until the migration (every one, for ``run-pre``) ended and
exits non-zero, with the script's last output, when one failed. ``RDS_URL``
and ``RDS_TOKEN`` come from the environment, as for the other API verbs.
"""
import json
import os
import time

import click

from rds_web.client import ApiClient, ApiError

FAILED = {"failed", "rollback_failed"}


def _client() -> ApiClient:
    token = os.environ.get("RDS_TOKEN")
    if not token:
        raise click.ClickException("set RDS_TOKEN to an API token (rds token issue NAME)")
    return ApiClient(os.environ.get("RDS_URL", "http://127.0.0.1:8000"), token)


def _print(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def wait_for(api: ApiClient, migration_id: int, states: set[str],
             timeout: float = 3600.0) -> dict:
    """Long-poll until the migration is in one of ``states``; raise on failure."""
    deadline = time.monotonic() + timeout
    query = "&".join("state=%s" % s for s in sorted(states))
    while True:
        chunk = max(0.0, min(25.0, deadline - time.monotonic()))
        data = api.get("/migrations/%d/wait?%s&timeout=%.1f" % (migration_id, query, chunk))
        if data["state"] in states:
            return data
        if data["state"] in FAILED:
            raise ApiError(409, "migration %s %s: %s" % (data["name"], data["state"],
                                                          data.get("last_error")))
        if time.monotonic() >= deadline:
            raise ApiError(504, "migration %s still %s after %ss" % (
                data["name"], data["state"], timeout))


def _run(fn):
    try:
        return fn()
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def migration():
    """Project migrations (pre/post), through the API."""


@migration.command("list")
@click.option("--project")
@click.option("--type", "kind", type=click.Choice(["pre", "post"]))
@click.option("--state")
def migration_list(project, kind, state):
    """List migrations, newest first."""
    params = "&".join("%s=%s" % (k, v) for k, v in
                      (("project", project), ("type", kind), ("state", state)) if v)
    _print(_run(lambda: _client().get("/migrations" + ("?" + params if params else ""))))


def _act(verb: str, migration_id: int, wait: bool, done: str) -> None:
    api = _client()

    def act():
        data = api.post("/migrations/%d/%s" % (migration_id, verb))
        return wait_for(api, migration_id, {done}) if wait else data
    _print(_run(act))


@migration.command("apply")
@click.argument("migration_id", type=int)
@click.option("--wait/--no-wait", default=False, help="Wait until it is applied (or failed).")
def migration_apply(migration_id, wait):
    """Run a migration up."""
    _act("apply", migration_id, wait, "applied")


@migration.command("rollback")
@click.argument("migration_id", type=int)
@click.option("--wait/--no-wait", default=False,
              help="Wait until it is rolled back (pending again) or failed.")
def migration_rollback(migration_id, wait):
    """Run an applied migration down."""
    _act("rollback", migration_id, wait, "pending")


@migration.command("run-pre")
@click.argument("release_id", type=int)
@click.option("--wait/--no-wait", default=False,
              help="Wait until every pending pre migration is applied (or one failed).")
def migration_run_pre(release_id, wait):
    """Run the pending pre migrations of a release, in order."""
    api = _client()

    def act():
        release = api.post("/releases/%d/pre-migrations" % release_id)
        if not wait:
            return release
        listed = api.get("/migrations?project=%s&type=pre" % release["project"])["migrations"]
        ids = {m["name"]: m["id"] for m in listed}
        for name in release["pending_pre_migrations"]:
            wait_for(api, ids[name], {"applied"})
        return api.get("/releases/%d" % release_id)
    _print(_run(act))
