"""Project migrations: the migrations page (filters, apply, roll back, cancel, log,
days left), "Run pre migrations" of a release, and an admin's activation below
the rollback floor with a written reason."""
from collections.abc import Callable

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from rds_control import board, migrations, policy, releases
from rds_control.changes import last_change_id
from rds_control.errors import ControlError
from rds_core.migrations import MigrationState, MigrationType
from rds_db.models import Migration, User
from rds_web.db import get_session
from rds_web.ui.common import back, form_text, perform, requires
from rds_web.ui.releases import release_action

bp = Blueprint("migrations", __name__)


@bp.app_context_processor
def helpers() -> dict[str, object]:
    return {"is_below_floor": policy.is_below_floor}


@bp.get("/migrations")
@requires("view")
def index() -> ResponseReturnValue:
    """Migrations, newest first, filtered by project, type and state."""
    session = get_session()
    filters = {key: request.args.get(key) or "" for key in ("project", "type", "state")}
    error = None
    try:
        rows = migrations.list_migrations(session, g.user, project=filters["project"] or None,
                                          type=filters["type"] or None,
                                          state=filters["state"] or None)
    except ControlError as exc:
        rows, error = [], exc.message
    return render_template("migrations.html", rows=rows, filters=filters, error=error,
                           after=last_change_id(session),
                           projects=board.project_names(session),
                           types=[t.value for t in MigrationType],
                           states=[s.value for s in MigrationState])


def _act(fn: Callable[[Session, int, User], Migration], migration_id: int,
         verb: str) -> Response:
    def act(session: Session) -> str:
        migration = fn(session, migration_id, g.user)
        return "%s %s migration %s." % (verb, migration.type, migration.name)
    perform(act, success=lambda message: message)
    return back("migrations.index")


@bp.post("/migrations/<int:migration_id>/apply")
@requires("deploy")
def apply(migration_id: int) -> ResponseReturnValue:
    """Run a migration up (a post one only after the stabilisation delay)."""
    return _act(migrations.apply_migration, migration_id, "Applying")


@bp.post("/migrations/<int:migration_id>/rollback")
@requires("deploy")
def rollback(migration_id: int) -> ResponseReturnValue:
    """Run an applied migration down."""
    return _act(migrations.rollback_migration, migration_id, "Rolling back")


@bp.post("/migrations/<int:migration_id>/cancel")
@requires("deploy")
def cancel(migration_id: int) -> ResponseReturnValue:
    """Cancel a running migration (its process group on the server is killed)."""
    return _act(migrations.cancel_migration, migration_id, "Cancelling")


@bp.post("/releases/<int:release_id>/pre-migrations")
@requires("deploy")
def run_pre(release_id: int) -> ResponseReturnValue:
    """Run the release's pending pre migrations in order."""
    return release_action(migrations.run_pre_migrations, release_id,
                          "Running the pre migrations of %s.")


@bp.post("/releases/<int:release_id>/activate-below-floor")
@requires("admin")
def activate_below_floor(release_id: int) -> ResponseReturnValue:
    """An admin activates a release older than the rollback floor, with a reason."""
    reason = form_text("reason")
    return release_action(
        lambda s, rid, user: releases.activate_release(s, rid, user, override_reason=reason),
        release_id, "Activating %s below the rollback floor.")
