"""Applying heartbeats: an agent's row only moves forward, and it remembers when
each task stopped being listed (what the reaper's lost-report rule needs)."""
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from rds_contracts.agents import AgentHeartbeat
from rds_control.heartbeats import apply_heartbeat, dropped_at
from rds_db.models import Agent
from rds_db.models.base import utcnow

A, B = "a" * 32, "b" * 32


def beat(session: Session, at: datetime, *running: str) -> Agent:
    apply_heartbeat(session, AgentHeartbeat(
        agent="hb-host/builder/1", service="builder", pool="default", host="hb-host", pid=1,
        version="t", interval=5, at=at, running_tasks=list(running)))
    return session.get(Agent, "hb-host/builder/1")


def test_the_first_heartbeat_without_a_task_is_remembered(db_session):
    now = utcnow()
    beat(db_session, now, A, B)
    agent = beat(db_session, now + timedelta(seconds=5), B)
    assert dropped_at(agent, A) == now + timedelta(seconds=5) and dropped_at(agent, B) is None
    agent = beat(db_session, now + timedelta(seconds=10))  # later beats keep the first time
    assert dropped_at(agent, A) == now + timedelta(seconds=5)
    assert dropped_at(agent, B) == now + timedelta(seconds=10)
    agent = beat(db_session, now + timedelta(seconds=15), A)  # listed again (a new run)
    assert dropped_at(agent, A) is None and agent.running_tasks == [A]


def test_an_older_or_repeated_heartbeat_changes_nothing(db_session):
    now = utcnow()
    beat(db_session, now, A)
    agent = beat(db_session, now - timedelta(seconds=5))  # overtaken (redelivered, late)
    assert agent.running_tasks == [A] and agent.last_heartbeat_at == now
    assert dropped_at(agent, A) is None
    agent = beat(db_session, now, A)  # a duplicate
    assert agent.running_tasks == [A] and agent.dropped_tasks == {}


def test_dropped_tasks_are_forgotten_after_an_hour(db_session):
    now = utcnow()
    beat(db_session, now, A)
    beat(db_session, now + timedelta(seconds=5))
    agent = beat(db_session, now + timedelta(hours=2))
    assert agent.dropped_tasks == {}
