"""The audit log: every human action and state change, filterable."""
from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

from rds_control import audit, board
from rds_web.db import get_session
from rds_web.ui.common import requires

bp = Blueprint("audit", __name__)
FILTERS = ("actor", "action", "project", "q")


def cursor(name: str) -> int | None:
    """A keyset cursor (an audit entry id) from the query string: absent is None,
    anything but a plain id is a 400 (a link from the page always carries one)."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        abort(400, description="%s= must be an audit entry id, not %r" % (name, value[:40]))
    return int(value)


@bp.get("/audit")
@requires("view")
def index() -> ResponseReturnValue:
    """Show the audit log, newest first, filtered by actor, action, project and text,
    paged by keyset cursors (``before=``/``after=`` an entry id)."""
    session = get_session()
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    before, after = cursor("before"), cursor("after")
    if before is not None and after is not None:
        abort(400, description="give before= or after=, not both")
    page = audit.audit_page(session, actor=filters["actor"] or None,
                            action=filters["action"] or None,
                            project=filters["project"] or None,
                            text=filters["q"] or None, before=before, after=after)
    return render_template("audit.html", page=page, filters=filters,
                           actions=audit.audit_actions(session),
                           projects=board.project_names(session))
