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

The row also remembers, for each task a heartbeat stopped listing, the send
time of the first heartbeat without it (``dropped_tasks``, kept for
``DROPPED_KEPT``): an agent lists a task until its final event is confirmed
by the broker, so that time bounds when the final event was published. The
reaper calls a task's last report lost only once ingest has applied
everything published before it (``rds_control.reaper``).
"""
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from rds_contracts.agents import AgentHeartbeat
from rds_control.changes import record_change
from rds_db.models import Agent

#: How long a dropped task is remembered (the reaper decides long before).
DROPPED_KEPT = timedelta(hours=1)


def apply_heartbeat(session: Session, event: AgentHeartbeat) -> None:
    """Record ``event`` as its agent's latest heartbeat, unless a newer one is stored."""
    running = list(event.running_tasks)
    values = dict(service=event.service, pool=event.pool, host=event.host, pid=event.pid,
                  version=event.version, running_tasks=running,
                  heartbeat_interval=event.interval, last_heartbeat_at=event.at)
    session.execute(insert(Agent).values(name=event.agent, first_seen_at=event.at,
                                         dropped_tasks={}, **values)
                    .on_conflict_do_nothing(index_elements=[Agent.name]))
    agent = session.scalars(select(Agent).where(Agent.name == event.agent)
                            .with_for_update().execution_options(populate_existing=True)).one()
    if agent.last_heartbeat_at > event.at:
        return  # a newer one is stored
    if agent.last_heartbeat_at < event.at:
        agent.dropped_tasks = dropped_since(agent.dropped_tasks or {}, agent.running_tasks or [],
                                            running, event.at)
        for field, value in values.items():
            setattr(agent, field, value)
    record_change(session, "agent")


def dropped_since(dropped: dict[str, str], before: list[str], now_running: list[str],
                  at: datetime) -> dict[str, str]:
    """``dropped`` updated by a heartbeat sent ``at``: tasks ``before`` listed and it does
    not are dropped from then on; a task listed again is not dropped; old ones go."""
    kept = {task: when for task, when in dropped.items()
            if task not in now_running and datetime.fromisoformat(when) > at - DROPPED_KEPT}
    kept.update({task: at.isoformat() for task in before
                 if task not in now_running and task not in kept})
    return kept


def dropped_at(agent: Agent, task_id: str) -> datetime | None:
    """When a heartbeat of ``agent`` first stopped listing the task (None: it did not)."""
    when = (agent.dropped_tasks or {}).get(task_id)
    return datetime.fromisoformat(when) if when is not None else None
