"""Agents as seen from the web side: online while their heartbeat is fresh."""
from datetime import timedelta

from sqlalchemy import select

from rds_db.models import Agent
from rds_db.models.base import utcnow

#: An agent is offline after missing this many heartbeats (at least 30 s).
MISSED_BEATS = 3
MIN_TIMEOUT = 30.0


def is_online(agent, now=None, timeout=MIN_TIMEOUT):
    if agent is None:
        return False
    now = now or utcnow()
    limit = max(timeout, MISSED_BEATS * (agent.heartbeat_interval or 0))
    return agent.last_heartbeat_at >= now - timedelta(seconds=limit)


def list_agents(session, include_stale_hours=24):
    """``(agent, online)`` pairs, online first; agents silent for a day are left out."""
    now = utcnow()
    rows = session.scalars(select(Agent).where(
        Agent.last_heartbeat_at >= now - timedelta(hours=include_stale_hours))
        .order_by(Agent.service, Agent.name)).all()
    pairs = [(agent, is_online(agent, now)) for agent in rows]
    return sorted(pairs, key=lambda pair: (not pair[1], pair[0].service, pair[0].name))
