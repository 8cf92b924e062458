"""Project migrations: list (filters), show (with log), apply, roll back, cancel,
wait; "Run pre migrations" of a release. Response models feed the OpenAPI
document (``MIGRATION_PATHS``)."""
from collections.abc import Callable
from datetime import datetime

from flask import g, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rds_control import migrations
from rds_control.errors import InvalidInput
from rds_core.migrations import MigrationState, MigrationType
from rds_db.models import Migration, User
from rds_web.api import bp, json_body
from rds_web.api.longpoll import long_poll, seconds_arg
from rds_web.api.params import path_param, query
from rds_web.api.releases import release_action
from rds_web.api.schemas import ActionAnswer, Out, TaskOut, dump
from rds_web.auth import require
from rds_web.db import get_session, run
from rds_web.json_types import JSONObject

#: States in which a migration waits for nothing: a wait returns on them.
SETTLED = {MigrationState.APPLIED, MigrationState.PENDING, MigrationState.FAILED,
           MigrationState.ROLLBACK_FAILED}


class MigrationOut(Out):
    id: int
    project: str
    name: str
    type: MigrationType
    state: MigrationState
    #: The release it first appeared in.
    release_version: str | None
    applied_at: datetime | None
    last_error: str | None
    #: Days before a post migration may run (None: not waiting, or its release never
    #: went live).
    days_left: float | None
    #: ``apply`` and ``rollback``: allowed for the caller, or why not.
    actions: dict[str, ActionAnswer]
    #: The last task that ran it (up or down), with its log when asked (``?log=1``).
    task: TaskOut | None
    created_at: datetime | None

    @classmethod
    def of(cls, row: migrations.MigrationRow, with_log: bool = False) -> "MigrationOut":
        m = row.migration
        return cls(
            id=m.id, project=row.project, name=m.name, type=m.type, state=m.state,
            release_version=row.release_version, applied_at=m.applied_at,
            last_error=m.last_error, days_left=row.days_left,
            actions={k: ActionAnswer(allowed=d is None, reason=d.reason if d else None)
                     for k, d in row.actions.items()},
            task=TaskOut.of(m.task, with_log=with_log) if m.task is not None else None,
            created_at=m.created_at)


class MigrationList(Out):
    migrations: list[MigrationOut]


class OverrideInput(Out):
    """Body of an activation or revert (optional)."""

    #: An admin's written reason to go below the rollback floor (audited).
    override_reason: str | None = Field(default=None, min_length=1, max_length=2000)


def _one(session: Session, migration_id: int, with_log: bool = False) -> dict[str, object]:
    migration = migrations.get_migration(session, migration_id)
    rows = migrations.list_migrations(session, g.user, project=None, limit=1,
                                      only_id=migration.id)
    return dump(MigrationOut.of(rows[0], with_log=with_log))


@bp.get("/migrations")
@require("view")
def list_migrations() -> ResponseReturnValue:
    """Migrations, newest first; ``?project=``, ``?type=pre|post``, ``?state=``."""
    session = get_session()
    rows = migrations.list_migrations(
        session, g.user, project=request.args.get("project") or None,
        type=request.args.get("type") or None, state=request.args.get("state") or None)
    return dump(MigrationList(migrations=[MigrationOut.of(r) for r in rows]))


@bp.get("/migrations/<int:migration_id>")
@require("view")
def show_migration(migration_id: int) -> ResponseReturnValue:
    """One migration with its allowed actions and (``?log=1``) its last task's log."""
    return _one(get_session(), migration_id,
                with_log=request.args.get("log") in ("1", "true", "yes"))


@bp.get("/migrations/<int:migration_id>/wait")
@require("view")
def wait_migration(migration_id: int) -> ResponseReturnValue:
    """Long-poll: return the migration once its state is one of ``?state=`` (repeatable;
    default: any state but applying/rolling back), once it failed, or after
    ``?timeout=`` seconds (default 25, max 60)."""
    timeout = seconds_arg("timeout", 25)
    known = {s.value for s in MigrationState}
    wanted = set(request.args.getlist("state")) or {s.value for s in SETTLED}
    if not wanted <= known:
        raise InvalidInput("state must be one of %s" % ", ".join(sorted(known)), field="state")
    wanted |= {MigrationState.FAILED.value, MigrationState.ROLLBACK_FAILED.value}
    return long_poll(lambda: _one(get_session(), migration_id),
                     lambda data: data["state"] in wanted, timeout)


def _act(fn: Callable[[Session, int, User], Migration],
         migration_id: int) -> ResponseReturnValue:
    def act(session: Session) -> dict[str, object]:
        return _one(session, fn(session, migration_id, g.user).id)
    return run(act), 202


@bp.post("/migrations/<int:migration_id>/apply")
@require("deploy")
def apply_migration(migration_id: int) -> ResponseReturnValue:
    """Run a pending or failed migration up (a post one after the delay). :raise 409:"""
    return _act(migrations.apply_migration, migration_id)


@bp.post("/migrations/<int:migration_id>/rollback")
@require("deploy")
def rollback_migration(migration_id: int) -> ResponseReturnValue:
    """Run an applied migration down."""
    return _act(migrations.rollback_migration, migration_id)


@bp.post("/migrations/<int:migration_id>/cancel")
@require("deploy")
def cancel_migration(migration_id: int) -> ResponseReturnValue:
    """Cancel the running task of a migration (its remote process group is killed)."""
    return _act(migrations.cancel_migration, migration_id)


@bp.post("/releases/<int:release_id>/pre-migrations")
@require("deploy")
def run_pre_migrations(release_id: int) -> ResponseReturnValue:
    """Run the release's pending pre migrations in order; then it may be activated."""
    return release_action(migrations.run_pre_migrations, release_id)


def override_reason() -> str | None:
    """The optional ``override_reason`` of an activation/revert body."""
    data = json_body()
    from rds_control.inputs import parse

    return parse(OverrideInput, data).override_reason


def _query(name: str, description: str) -> JSONObject:
    return query(name, {"type": "string"}, description)


def paths(op: Callable[..., JSONObject], body: Callable[[str, type[BaseModel]], JSONObject],
          error: JSONObject, release: JSONObject) -> dict[str, dict[str, JSONObject]]:
    """The OpenAPI paths of this module (the helpers and shapes of openapi.py)."""
    mid = path_param("migration_id", {"type": "integer"})
    one = body("the migration, with its actions for the caller", MigrationOut)
    return {
        "/migrations": {"get": op("Migrations, newest first", {
            "200": body("migrations", MigrationList), "400": error, "404": error},
            params=[_query("project", "project name"), _query("type", "pre or post"),
                    _query("state", ", ".join(s.value for s in MigrationState))])},
        "/migrations/{migration_id}": {"get": op(
            "A migration with its last task (log=1: with its log)",
            {"200": one, "404": error}, params=[mid, _query("log", "1")])},
        "/migrations/{migration_id}/wait": {"get": op(
            "Long-poll until the migration reaches a state (or fails)",
            {"200": one, "400": error}, params=[mid, _query("timeout", "seconds, max 60"),
                                                 _query("state", "repeatable")])},
        "/migrations/{migration_id}/apply": {"post": op(
            "Run the migration up (post: only after the stabilisation delay)",
            {"202": one, "403": error, "409": error}, params=[mid])},
        "/migrations/{migration_id}/rollback": {"post": op(
            "Run the migration down", {"202": one, "403": error, "409": error},
            params=[mid])},
        "/migrations/{migration_id}/cancel": {"post": op(
            "Cancel the migration's running task", {"202": one, "409": error},
            params=[mid])},
        "/releases/{release_id}/pre-migrations": {"post": op(
            "Run pre migrations: the release's pending pre migrations, in order",
            {"202": release, "403": error, "409": error},
            params=[path_param("release_id", {"type": "integer"})])},
    }
