"""The release board (home page) and the new-release form."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from rds_control import board, controls, releases
from rds_control.changes import last_change_id
from rds_control.errors import ControlError, NotFound
from rds_web.db import get_session, run
from rds_web.ui import gc
from rds_web.ui.common import RELEASE_STATUSES, form_text, requires

bp = Blueprint("board", __name__)


def board_filters() -> tuple[str | None, str | None]:
    project = request.args.get("project", "").strip() or None
    status = request.args.get("status", "").strip() or None
    if status not in RELEASE_STATUSES + ["deleted", None]:
        status = None
    return project, status


def cursor(name: str) -> int | None:
    """A keyset cursor (a release id) from the query string; anything else is ignored."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 18 else None


def _form_context(session: Session, values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None,
                  error: str | None = None) -> dict[str, object]:
    return {"projects": board.project_names(session),
            "favourites": board.most_used_projects(session, g.user),
            "values": values or {"project": request.args.get("new", "")},
            "errors": errors or {}, "form_error": error}


@bp.get("/")
@requires("view")
def index() -> ResponseReturnValue:
    """Show the release board: newest first, filtered, paginated, live."""
    session = get_session()
    project, status = board_filters()
    after = last_change_id(session)  # read first: the stream resumes from here
    page = board.board_page(session, g.user, project=project, status=status,
                            before=cursor("before"), after=cursor("after"))
    return render_template("board.html", board=page, after=after,
                           statuses=RELEASE_STATUSES, drifting=gc.drifting(session, project),
                           bans=controls.active_bans(session, project),
                           **_form_context(session))


@bp.get("/releases/new")
@requires("deploy")
def new_release() -> ResponseReturnValue:
    """Show the new-release form (project preselected with ``?project=``)."""
    values = {"project": request.args.get("project", "")}
    return render_template("release_new.html", **_form_context(get_session(), values))


@bp.post("/releases")
@requires("deploy")
def create_release() -> ResponseReturnValue:
    """Create a release of a project and start building it."""
    values = {"project": form_text("project"), "comment": form_text("comment"),
              "ref": form_text("ref")}
    data = {"comment": values["comment"]}
    if values["ref"]:
        data["ref"] = values["ref"]
    try:
        if not values["project"]:
            raise ControlError("choose a project", field="project")
        release = run(lambda s: _create(s, values["project"], data))
    except ControlError as exc:
        field = "project" if isinstance(exc, NotFound) else exc.field
        errors = {field: exc.message} if field else {}
        context = _form_context(get_session(), values, errors,
                                None if field else exc.message)
        return render_template("release_new.html", **context), exc.status
    flash("Started %s %s." % (values["project"], release["version"]), "success")
    return redirect(url_for("board.index"))


def _create(session: Session, project: str, data: dict[str, str]) -> dict[str, int | str]:
    release = releases.create_release(session, project, data, g.user)
    return {"id": release.id, "version": release.version}
