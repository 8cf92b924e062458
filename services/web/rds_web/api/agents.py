"""Agents: every agent copy that sent a heartbeat, online or not."""
from flask.typing import ResponseReturnValue

from rds_control.agents import list_agents
from rds_web.api import bp
from rds_web.api.schemas import AgentList, AgentOut, dump
from rds_web.auth import require
from rds_web.db import get_session


@bp.get("/agents")
@require("view")
def agents() -> ResponseReturnValue:
    """Every agent copy with pool, version, last heartbeat, online flag and running tasks."""
    return dump(AgentList(agents=[AgentOut.of(agent, online)
                                  for agent, online in list_agents(get_session())]))
