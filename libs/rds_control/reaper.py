"""Nothing stays in a transient state forever (SPEC §3).

Run periodically by the pruner:

* a running task whose agent stopped heartbeating fails with that reason (a
  build then gets another automatic attempt, up to the limit);
* a task nobody took within ``queue_timeout`` fails, saying whether any
  agent of its pool is online at all;
* a cancel that no agent confirmed within ``cancel_timeout`` ends as
  ``cancelled`` anyway.
"""
import logging
from datetime import timedelta

from sqlalchemy import select

from rds_control.agents import is_online
from rds_control.configs import finish_push
from rds_control.ingest import cancel_build, fail_activation, fail_build
from rds_control.tasks import finish_task
from rds_core.lifecycle import TaskStatus
from rds_db.models import Agent, Task
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)

ACTOR = "system:pruner"


def _end(session, task, reason, cancelled=False):
    if cancelled and task.kind == "build":
        cancel_build(session, task, reason, ACTOR)
    elif task.kind == "build":
        fail_build(session, task, "internal", reason, ACTOR)
    elif task.kind == "activate":
        fail_activation(session, task, reason, rolled_back=False, actor=ACTOR)
    elif task.kind == "config":
        finish_push(session, task, False, reason=reason)
    else:
        finish_task(session, task, TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED,
                    error=reason)


def reap(session, agent_timeout=30, queue_timeout=3600, cancel_timeout=60, now=None):
    """End tasks that can no longer finish; returns how many were ended."""
    now = now or utcnow()
    ended = 0
    tasks = session.scalars(select(Task).where(Task.finished_at.is_(None))
                            .with_for_update(skip_locked=True)).all()
    for task in tasks:
        agent = session.get(Agent, task.agent) if task.agent else None
        status = TaskStatus(task.status)
        if status == TaskStatus.RUNNING and not is_online(agent, now, agent_timeout):
            last = agent.last_heartbeat_at.isoformat(timespec="seconds") if agent else "never"
            _end(session, task, "agent %s stopped sending heartbeats (last: %s)"
                 % (task.agent, last))
        elif status == TaskStatus.CANCELLING and (
                not is_online(agent, now, agent_timeout)
                or (task.cancel_requested_at or task.created_at)
                < now - timedelta(seconds=cancel_timeout)):
            _end(session, task, "no agent confirmed the cancel; marked cancelled", cancelled=True)
        elif status == TaskStatus.QUEUED and task.created_at < now - timedelta(
                seconds=queue_timeout):
            online = session.scalars(select(Agent).where(Agent.pool == task.pool)).all()
            online = [a for a in online if is_online(a, now, agent_timeout)]
            _end(session, task, "no agent took the task within %d minutes (%s)" % (
                queue_timeout // 60,
                "%d agent(s) of pool %s online" % (len(online), task.pool) if online
                else "no agent of pool %s is online" % task.pool))
        else:
            continue
        ended += 1
        log.warning("reaped task %s (%s): %s", task.id, task.kind, task.error)
    return ended
