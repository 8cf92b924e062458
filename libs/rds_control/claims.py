"""Fencing: which run of a task may act (the web side answers agents' claims).

An agent claims a task before it starts it and before each irreversible step
(see ``rds_contracts.pruner``). The answer comes from the task row, locked:

* a task that ended (finished, reaped, cancelled before it started) refuses
  every claim: a stale or redelivered command never acts;
* a task being cancelled ends as cancelled now, and the claim is refused
  with ``cancelled``: a cancel wins at the next checkpoint wherever the task
  is (queued, starting, between steps);
* the current run's claims are granted with its fencing token;
* a start by another run takes the task over only when the run holding it
  cannot act any more: its agent stopped heartbeating, or the claimant saw
  that process die on its own host (``replaces``). Otherwise (a duplicate
  delivery while the holder still runs, e.g. after the broker dropped the
  holder's connection) it is refused and names the holder;
* a later step of a run that is no longer current is refused: a run that
  was reaped or taken over stops where it is.

A granted start begins the run (``running``, its release ``building``) and
increments the task's fencing token, so tokens order the runs of a task.
"""
import logging
from datetime import datetime

from sqlalchemy.orm import Session

from rds_contracts.pruner import START, ClaimAnswer, ClaimRequest
from rds_control.agents import is_online
from rds_control.outcomes import begin_run, end_task
from rds_control.reaper import heartbeat_clock
from rds_control.tasks import lock_tasks
from rds_core.lifecycle import TASK_FINISHED, TaskStatus
from rds_db.models import Agent, Task
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)


def _host(agent_name: str) -> str:
    return agent_name.split("/", 1)[0]


def _refuse(request: ClaimRequest, reason: str, **fields: object) -> ClaimAnswer:
    log.info("refused %s claim of task %s by %s: %s", request.step, request.task_id,
             request.agent, reason)
    return ClaimAnswer(granted=False, reason=reason, **fields)


def _holder_can_act(session: Session, task: Task, request: ClaimRequest, now: datetime,
                    agent_timeout: float) -> bool:
    if task.agent is None:
        return False
    if request.replaces is not None and request.replaces == task.agent and (
            _host(request.replaces) == _host(request.agent)):
        return False  # the claimant saw the holder's process die on its own host
    return bool(is_online(session.get(Agent, task.agent), heartbeat_clock(session, now),
                          agent_timeout))


def claim_task(session: Session, request: ClaimRequest, agent_timeout: float = 30,
               now: datetime | None = None) -> ClaimAnswer:
    """Grant or refuse one claim (the caller commits)."""
    now = now or utcnow()
    task = next(iter(lock_tasks(session, [request.task_id])), None)  # release first
    if task is None:
        return _refuse(request, "no task %s" % request.task_id)
    status = TaskStatus(task.status)
    if status in TASK_FINISHED:
        return _refuse(request, "task %s already ended (%s%s)" % (
            task.id, status, ": %s" % task.error if task.error else ""),
            cancelled=status == TaskStatus.CANCELLED)
    if status == TaskStatus.CANCELLING:
        end_task(session, task, "cancelled on request", "agent:%s" % request.agent,
                 cancelled=True)
        return _refuse(request, "task %s was cancelled" % task.id, cancelled=True)
    if task.run_id == request.run_id:
        task.seen_at = now
        return ClaimAnswer(granted=True, token=task.fence)
    if request.step != START:
        return _refuse(request, "run %s no longer holds task %s (run %s of %s does)" % (
            request.run_id, task.id, task.run_id, task.agent))
    if task.run_id is not None and _holder_can_act(session, task, request, now, agent_timeout):
        return _refuse(request, "task %s is running on %s" % (task.id, task.agent),
                       holder=task.agent)
    if task.run_id is not None:
        log.warning("task %s: %s takes over from %s (run %s)", task.id, request.agent,
                    task.agent, task.run_id)
        task.last_seq = 0
    task.agent = request.agent
    task.fence += 1
    task.seen_at = now
    begin_run(session, task, request.run_id, now)
    return ClaimAnswer(granted=True, token=task.fence)
