"""Agents as seen from the web side: online while their heartbeat is fresh.

Heartbeats come on their own path (``rds_control.heartbeats``), so an agent
stays online while events wait in ingest's queue.
"""
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_db.models import Agent
from rds_db.models.base import utcnow

#: An agent is offline after missing this many heartbeats (at least 30 s).
MISSED_BEATS = 3
MIN_TIMEOUT = 30.0


def is_online(agent: Agent | None, now: datetime | None = None,
              timeout: float = MIN_TIMEOUT) -> bool:
    if agent is None:
        return False
    now = now or utcnow()
    limit = max(timeout, MISSED_BEATS * (agent.heartbeat_interval or 0))
    return agent.last_heartbeat_at >= now - timedelta(seconds=limit)


def list_agents(session: Session, include_stale_hours: float = 24,
                now: datetime | None = None,
                timeout: float = MIN_TIMEOUT) -> list[tuple[Agent, bool]]:
    """``(agent, online)`` pairs, online first; agents silent for a day are left out."""
    now = now or utcnow()
    rows = session.scalars(select(Agent).where(
        Agent.last_heartbeat_at >= now - timedelta(hours=include_stale_hours))
        .order_by(Agent.service, Agent.name)).all()
    pairs = [(agent, is_online(agent, now, timeout)) for agent in rows]
    return sorted(pairs, key=lambda pair: (not pair[1], pair[0].service, pair[0].name))
