"""Agents: every agent copy with pool, version, heartbeat, online state and tasks."""
from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from rds_control.agents import list_agents
from rds_control.changes import last_change_id
from rds_web.db import get_session
from rds_web.ui.common import requires

bp = Blueprint("agents", __name__)


@bp.get("/agents")
@requires("view")
def index() -> ResponseReturnValue:
    """List the agents that sent a heartbeat in the last day, online first."""
    session = get_session()
    after = last_change_id(session)
    return render_template("agents.html", agents=list_agents(session), after=after)
