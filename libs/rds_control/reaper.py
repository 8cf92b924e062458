"""Nothing stays in a transient state forever (SPEC §3).

Run periodically by the pruner:

* a running task whose agent stopped heartbeating fails with that reason (a
  build then gets another automatic attempt, up to the limit);
* a running task whose agent is alive but no longer lists it among its
  running tasks fails: its last event was lost (the agent lists a task from
  its start until its final event is confirmed by the broker, so a heartbeat
  without it, once ingest has applied everything sent before that heartbeat,
  means the end will never arrive);
* a running task past its kind's deadline (``deadlines``, seconds since it
  started) fails, whatever its agent says: a hung script or upload ends;
* a task nobody took within ``queue_timeout`` fails, saying whether any
  agent of its pool is online at all;
* a cancel that no agent confirmed within ``cancel_timeout`` ends as
  ``cancelled`` anyway.

Two clocks, so that nothing fails for a delay that is not the task's:

* **agent silence** is judged at the *heartbeat clock*: the newest heartbeat
  applied from any agent (the web side's own services beat too), never later
  than now. Heartbeats have their own path (``rds_control.heartbeats``), so a
  backlog of events does not hold them back; if heartbeats stop arriving
  altogether (the path is broken), every agent would look silent, and no task
  must fail for that.
* everything a **backlog of events** can explain (a deadline, a task nobody
  took, a cancel nobody confirmed, a report that looks lost) is judged at the
  *ingest clock* (``rds_control.ingest_lag``): the send time of the newest
  probe ingest applied. While ingest is behind (a backlog, a slow or
  stopped ingest) these rules wait exactly as long as it is behind: the
  event that would have ended the task may be in the queue.

A task is lost only when its agent listed it and the first heartbeat that no
longer did was sent ``grace`` seconds before the ingest clock: ingest has
applied whatever the agent published before that heartbeat, its final event
included (``rds_control.heartbeats`` remembers when each task was dropped).

Whenever the reaper ends a task it broadcasts a cancel for it, whatever the
reason and whatever the task's state (a task that looks queued may be running
on an agent whose ``task_started`` waits in the queue), so the killer of its
host stops whatever it may still be running; and the reaped run cannot act
afterwards: its next claim is refused (``rds_control.claims``). How the task and
its release end is ``rds_control.outcomes``.

Locks follow rds's one lock order (``rds_control.tasks.lock_tasks``): the tasks
that look reapable are locked with their releases first, then judged again.
"""
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rds_contracts.killer import CancelCommand
from rds_control import outbox
from rds_control.agents import is_online
from rds_control.heartbeats import dropped_at
from rds_control.ingest_lag import ingest_clock
from rds_control.outcomes import end_task
from rds_control.tasks import lock_tasks
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
#: Seconds the first heartbeat without a task must precede the ingest clock before
#: the task counts as lost (clocks of hosts differ a little).
DEFAULT_GRACE = float(Settings.model_fields["lost_task_grace"].default)


#: Log that the reaper waits for ingest when it is this many seconds behind.
LAG_WORTH_LOGGING = 30.0


def heartbeat_clock(session: Session, now: datetime) -> datetime:
    """"Now" for heartbeat ages: the newest heartbeat applied (never later than now)."""
    newest = session.scalar(select(func.max(Agent.last_heartbeat_at)))
    return min(now, newest) if newest is not None else now


@dataclass(frozen=True)
class Clocks:
    """The two "now"s of one reaper run (see the module docstring)."""

    beats: datetime
    ingest: datetime


def _lost_by_live_agent(task: Task, agent: Agent | None, clocks: Clocks, grace: float) -> bool:
    if agent is None or task.id in (agent.running_tasks or []):
        return False
    dropped = dropped_at(agent, task.id)
    return dropped is not None and dropped + timedelta(seconds=grace) < clocks.ingest


def _why(session: Session, task: Task, clocks: Clocks, agent_timeout: float,
         queue_timeout: float, cancel_timeout: float, deadlines: Mapping[TaskKind, float],
         grace: float) -> tuple[str, bool] | None:
    """``(reason, cancelled)`` if the task must end now, else None."""
    agent = session.get(Agent, task.agent) if task.agent else None
    status = TaskStatus(task.status)
    if status == TaskStatus.RUNNING:
        deadline = deadlines.get(TaskKind(task.kind))
        if not is_online(agent, clocks.beats, agent_timeout):
            last = agent.last_heartbeat_at.isoformat(timespec="seconds") if agent else "never"
            return ("agent %s stopped sending heartbeats (last: %s)" % (task.agent, last),
                    False)
        if _lost_by_live_agent(task, agent, clocks, grace):  # (it ended: say so first)
            return ("agent %s is alive but no longer runs the task; its last report was "
                    "lost" % task.agent, False)
        if deadline and task.started_at and task.started_at < clocks.ingest - timedelta(
                seconds=deadline):
            return ("%s task exceeded its deadline of %d s (RDS_TASK_DEADLINE_%s)"
                    % (task.kind, deadline, task.kind.upper()), False)
    elif status == TaskStatus.CANCELLING and (
            not is_online(agent, clocks.beats, agent_timeout)
            or (task.cancel_requested_at or task.created_at)
            < clocks.ingest - timedelta(seconds=cancel_timeout)):
        return "no agent confirmed the cancel; marked cancelled", True
    elif status == TaskStatus.QUEUED and task.created_at < clocks.ingest - timedelta(
            seconds=queue_timeout):
        pool = session.scalars(select(Agent).where(Agent.pool == task.pool)).all()
        online = [a for a in pool if is_online(a, clocks.beats, agent_timeout)]
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
    clocks = Clocks(beats=heartbeat_clock(session, now),
                    ingest=ingest_clock(session, now))
    lag = (now - clocks.ingest).total_seconds()
    if lag >= LAG_WORTH_LOGGING:
        log.warning("ingest is %.0f s behind: deadlines, queue and cancel timeouts and lost "
                    "reports are judged as of %s", lag, clocks.ingest.isoformat())

    def why(task: Task) -> tuple[str, bool] | None:
        return _why(session, task, clocks, agent_timeout, queue_timeout, cancel_timeout,
                    deadlines, grace)

    ended = 0
    candidates = [task.id for task in session.scalars(
        select(Task).where(Task.finished_at.is_(None))) if why(task) is not None]
    for task in lock_tasks(session, candidates):  # releases, then tasks; judged again
        if task.finished_at is not None:
            continue
        verdict = why(task)
        if verdict is None:
            continue
        reason, cancelled = verdict
        end_task(session, task, reason, ACTOR, cancelled=cancelled)
        # whatever the reason: nothing the reaper gave up on may keep running
        outbox.enqueue(session, CancelCommand(task_id=task.id, initiator=ACTOR), task.pool,
                       broadcast=True)
        ended += 1
        log.warning("reaped task %s (%s): %s", task.id, task.kind, task.error)
    return ended
