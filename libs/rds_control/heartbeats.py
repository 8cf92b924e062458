"""Applying agent heartbeats: one row per agent copy, only ever moving forward.

Heartbeats come on their own path (exchange ``rds.heartbeats``, queue
``rds.pruner.heartbeats``, consumed by the pruner), so a backlog of events
never makes a live agent look silent. Ingest still applies the heartbeats
that arrive among the events (agents of an older version send them there),
with the same rule.

A heartbeat is applied only if it is newer than the one stored for its agent,
so duplicates, redeliveries and heartbeats overtaken by a newer one (the two
paths, or a copy restarted in the meantime) change nothing: applying one is
idempotent and order does not matter.
"""
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from rds_contracts.agents import AgentHeartbeat
from rds_control.changes import record_change
from rds_db.models import Agent


def apply_heartbeat(session: Session, event: AgentHeartbeat) -> None:
    """Record ``event`` as its agent's latest heartbeat, unless a newer one is stored."""
    values = dict(service=event.service, pool=event.pool, host=event.host, pid=event.pid,
                  version=event.version, running_tasks=list(event.running_tasks),
                  heartbeat_interval=event.interval, last_heartbeat_at=event.at)
    statement = insert(Agent).values(name=event.agent, first_seen_at=event.at, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[Agent.name], set_=values,
        where=Agent.last_heartbeat_at < statement.excluded.last_heartbeat_at)
    session.execute(statement)
    record_change(session, "agent")
