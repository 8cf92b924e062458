"""The audit log: every human action and state change, filterable."""
from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from rds_control import audit, board
from rds_web.db import get_session
from rds_web.ui.common import page_number, requires

bp = Blueprint("audit", __name__)
FILTERS = ("actor", "action", "project", "q")


@bp.get("/audit")
@requires("view")
def index() -> ResponseReturnValue:
    """Show the audit log, newest first, filtered by actor, action, project and text."""
    session = get_session()
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    page = audit.audit_page(session, actor=filters["actor"] or None,
                            action=filters["action"] or None,
                            project=filters["project"] or None,
                            text=filters["q"] or None, page=page_number())
    return render_template("audit.html", page=page, filters=filters,
                           actions=audit.audit_actions(session),
                           projects=board.project_names(session))
