"""Nothing stays in a transient state forever (SPEC §3).

Run periodically by the pruner:

* a running task whose agent stopped heartbeating fails with that reason (a
  build then gets another automatic attempt, up to the limit);
* a running task whose agent is alive but no longer lists it among its
  running tasks fails: its last event was lost (the agent lists a task until
  its final event is confirmed by the broker, so a heartbeat without it,
  sent ``grace`` seconds after the task's last event, means the end will
  never arrive);
* a running task past its kind's deadline (``deadlines``, seconds since it
  started) fails, whatever its agent says: a hung script or upload ends;
* a task nobody took within ``queue_timeout`` fails, saying whether any
  agent of its pool is online at all;
* a cancel that no agent confirmed within ``cancel_timeout`` ends as
  ``cancelled`` anyway.

Heartbeat age is measured against the newest heartbeat ingest applied from
any agent (the web side's own services beat too), not the wall clock: when
ingest is stopped or behind, every agent would look silent, and no task must
fail for that.

A reaped run cannot act afterwards: its next claim is refused
(``rds_control.claims``), and a cancel is broadcast for it so the killer of
its host stops the script it may still be running. How the task and its release end is
``rds_control.outcomes``.
"""
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rds_contracts.killer import CancelCommand
from rds_control import outbox
from rds_control.agents import is_online
from rds_control.outcomes import end_task
from rds_core.lifecycle import TaskKind, TaskStatus
from rds_db.models import Agent, Task
from rds_db.models.base import utcnow
from rds_settings.settings import Settings

log = logging.getLogger(__name__)

ACTOR = "system:pruner"

#: Seconds a task of each kind may run (``RDS_TASK_DEADLINE_<KIND>``; defaults
#: are the settings' own).
DEFAULT_DEADLINES = {kind: float(Settings.model_fields["task_deadline_%s" % kind].default)
                     for kind in TaskKind}
#: Seconds a heartbeat must postdate a task's last event before the task's
#: absence from it counts (events and heartbeats may be applied out of order).
DEFAULT_GRACE = float(Settings.model_fields["lost_task_grace"].default)


def heartbeat_clock(session: Session, now: datetime) -> datetime:
    """"Now" for heartbeat ages: the newest heartbeat applied (never later than now)."""
    newest = session.scalar(select(func.max(Agent.last_heartbeat_at)))
    return min(now, newest) if newest is not None else now


def _lost_by_live_agent(task: Task, agent: Agent | None, grace: float) -> bool:
    if agent is None or task.id in (agent.running_tasks or []):
        return False
    last_event = task.seen_at or task.started_at or task.created_at
    return agent.last_heartbeat_at > last_event + timedelta(seconds=grace)


def _why(session: Session, task: Task, now: datetime, beat_now: datetime,
         agent_timeout: float, queue_timeout: float, cancel_timeout: float,
         deadlines: Mapping[TaskKind, float], grace: float) -> tuple[str, bool] | None:
    """``(reason, cancelled)`` if the task must end now, else None."""
    agent = session.get(Agent, task.agent) if task.agent else None
    status = TaskStatus(task.status)
    if status == TaskStatus.RUNNING:
        deadline = deadlines.get(TaskKind(task.kind))
        if not is_online(agent, beat_now, agent_timeout):
            last = agent.last_heartbeat_at.isoformat(timespec="seconds") if agent else "never"
            return ("agent %s stopped sending heartbeats (last: %s)" % (task.agent, last),
                    False)
        if deadline and task.started_at and task.started_at < now - timedelta(
                seconds=deadline):
            return ("%s task exceeded its deadline of %d s (RDS_TASK_DEADLINE_%s)"
                    % (task.kind, deadline, task.kind.upper()), False)
        if _lost_by_live_agent(task, agent, grace):
            return ("agent %s is alive but no longer runs the task; its last report was "
                    "lost" % task.agent, False)
    elif status == TaskStatus.CANCELLING and (
            not is_online(agent, beat_now, agent_timeout)
            or (task.cancel_requested_at or task.created_at)
            < now - timedelta(seconds=cancel_timeout)):
        return "no agent confirmed the cancel; marked cancelled", True
    elif status == TaskStatus.QUEUED and task.created_at < now - timedelta(
            seconds=queue_timeout):
        online = session.scalars(select(Agent).where(Agent.pool == task.pool)).all()
        online = [a for a in online if is_online(a, now, agent_timeout)]
        return ("no agent took the task within %d minutes (%s)" % (
            queue_timeout // 60,
            "%d agent(s) of pool %s online" % (len(online), task.pool) if online
            else "no agent of pool %s is online" % task.pool), False)
    return None


def reap(session: Session, agent_timeout: float = 30, queue_timeout: float = 3600,
         cancel_timeout: float = 60, deadlines: Mapping[TaskKind, float] | None = None,
         grace: float = DEFAULT_GRACE, now: datetime | None = None) -> int:
    """End tasks that can no longer finish; returns how many were ended."""
    now = now or utcnow()
    deadlines = DEFAULT_DEADLINES if deadlines is None else deadlines
    beat_now = heartbeat_clock(session, now)
    ended = 0
    tasks = session.scalars(select(Task).where(Task.finished_at.is_(None))
                            .with_for_update(skip_locked=True)).all()
    for task in tasks:
        why = _why(session, task, now, beat_now, agent_timeout, queue_timeout,
                   cancel_timeout, deadlines, grace)
        if why is None:
            continue
        reason, cancelled = why
        was_started = task.status != TaskStatus.QUEUED.value
        end_task(session, task, reason, ACTOR, cancelled=cancelled)
        if was_started:
            outbox.enqueue(session, CancelCommand(task_id=task.id, initiator=ACTOR), task.pool,
                           broadcast=True)
        ended += 1
        log.warning("reaped task %s (%s): %s", task.id, task.kind, task.error)
    return ended
