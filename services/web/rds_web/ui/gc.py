"""Retention and drift in the UI: the "check servers" button, what "Delete" will do.

The project page shows the retention plan (``rds_control.removal.project_plan``:
what goes next and why each other release stays) and each server's drift;
the board shows a banner while any server drifts (``_drift_banners.html``, also
pushed live by ``rds_web.ui.events.BoardView``). The ages come from the
same ``RDS_RETENTION_*`` variables the pruner reads.
"""
from flask import Blueprint, Flask, flash, g, redirect, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from rds_control import drift, removal
from rds_control.errors import ControlError
from rds_control.retention import Plan, RetentionSettings, deletion_note
from rds_db.models import Project, Server
from rds_web.db import run
from rds_web.ui.common import requires

bp = Blueprint("gc", __name__)


def settings() -> RetentionSettings:
    return RetentionSettings.from_settings()


def plan_for(session: Session, project: Project) -> Plan:
    """The retention plan of a project as the project page shows it."""
    return removal.project_plan(session, project, settings())


def drifting(session: Session, project: str | None = None) -> list[tuple[str, Server]]:
    return drift.drifting(session, project)


@bp.post("/projects/<name>/check-servers")
@requires("deploy")
def check_servers(name: str) -> ResponseReturnValue:
    """Read current and the release directories of every server of a project now."""
    try:
        run(lambda s: removal.check_servers(s, name, g.user).id)
        flash("Checking the servers of %s; differences appear here when the gc agent "
              "answers." % name, "success")
    except ControlError as exc:
        flash(exc.message, "error")
    return redirect(url_for("projects.show", name=name))


def init_app(app: Flask) -> None:
    @app.context_processor
    def retention_context() -> dict[str, object]:
        return {"delete_note": deletion_note(settings())}
