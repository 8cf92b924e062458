"""Applying agent events to the database, idempotently.

Rules (SPEC §1, §3):

* an event for an unknown task, or from a run that is not the task's current
  run, changes nothing (a redelivered command starts a new run: its
  ``task_started`` carries ``redelivered`` and takes over the task);
* facts (log chunks, step timings, "server N is ready") are applied whatever
  their order, idempotently, even after the task ended (several ingest
  workers may apply one task's events in parallel);
* a state-changing event whose ``seq`` is not above the last one applied is
  a duplicate or arrived late, and changes nothing; once a task has ended,
  no state-changing event is applied;
* release statuses only move along the state machine of
  ``rds_core.lifecycle``; anything else is dropped with a log line.

Commands caused by an event (automatic retries) are queued in the outbox of
the same transaction; run ``apply_event`` through ``rds_control.unit``.
"""
import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from rds_contracts import activator, agents, builder
from rds_control import audit, configs
from rds_control.changes import record_change, release_changed
from rds_control.errors import ControlError
from rds_control.tasks import finish_task, is_active
from rds_core.lifecycle import (
    MAX_AUTOMATIC_ATTEMPTS,
    ReleaseStatus,
    TaskStatus,
    can_transition,
    is_forward,
)
from rds_db.models import Agent, ReleaseTarget, Server, Task, TaskLog
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)
S = ReleaseStatus

#: Build failures worth another automatic attempt (a failing build script is
#: not: it would fail the same way again).
RETRYABLE_PHASES = {"checkout", "upload", "internal"}


def apply_event(session, name, event):
    if name == agents.AGENT_HEARTBEAT:
        _apply_heartbeat(session, event)
        return
    task = session.scalars(select(Task).where(Task.id == event.task_id)
                           .with_for_update()).one_or_none()
    if task is None:
        log.warning("dropping %s for unknown task %s", name, event.task_id)
        return
    task.seen_at = utcnow()
    if name == agents.TASK_STARTED:
        _apply_started(session, task, event)
        return
    if task.run_id is None and is_active(task):
        _begin_run(session, task, event)  # this run's task_started is still in flight
    if event.run_id != task.run_id:
        log.info("dropping %s from stale run %s of task %s", name, event.run_id, task.id)
        return
    if name in _FACTS:
        _FACTS[name](session, task, event)
        return
    if name in _FACT_PARTS:
        _FACT_PARTS[name](session, task, event)
    if not is_active(task):
        log.info("dropping %s for task %s, which already ended (%s)", name, task.id, task.status)
        return
    if event.seq <= task.last_seq:
        log.info("dropping %s seq %d of task %s: already at %d", name, event.seq, task.id,
                 task.last_seq)
        return
    task.last_seq = event.seq
    _HANDLERS[name](session, task, event)


def _apply_heartbeat(session, event):
    values = dict(service=event.service, pool=event.pool, host=event.host, pid=event.pid,
                  version=event.version, running_tasks=list(event.running_tasks),
                  heartbeat_interval=event.interval, last_heartbeat_at=event.at)
    statement = insert(Agent).values(name=event.agent, first_seen_at=event.at, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[Agent.name], set_=values,
        where=Agent.last_heartbeat_at < statement.excluded.last_heartbeat_at)
    session.execute(statement)
    record_change(session, "agent")


def _apply_started(session, task, event):
    if not is_active(task):
        log.info("task %s already ended (%s); ignoring its start by %s", task.id, task.status,
                 event.agent)
        return
    if task.run_id == event.run_id:  # other events of this run arrived first
        task.agent = task.agent or event.agent
        return
    if task.run_id is not None:
        if not event.redelivered:
            log.info("dropping a second start of task %s by %s", task.id, event.agent)
            return
        log.warning("task %s restarted by %s after its run %s died", task.id, event.agent,
                    task.run_id)
        task.last_seq = 0
    task.agent = event.agent
    _begin_run(session, task, event)


def _begin_run(session, task, event):
    """Make ``event``'s run the task's current run."""
    task.run_id = event.run_id
    if task.status == TaskStatus.QUEUED.value:
        task.status = TaskStatus.RUNNING.value
    task.started_at = task.started_at or event.at
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)
    release = task.release
    if task.kind == "build" and release is not None:
        _move(session, release, S.BUILDING, task)
        release.build_started_at = release.build_started_at or event.at


def _store_log(session, task, event):
    session.execute(insert(TaskLog).values(
        task_id=task.id, run_id=event.run_id, seq=event.seq, text=event.text,
        created_at=event.at).on_conflict_do_nothing())
    record_change(session, "log", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def _apply_step(session, task, event):
    steps = dict(task.steps or {})
    step = dict(steps.get(event.step, {}))
    step[event.state] = event.at.isoformat()
    steps[event.step] = step
    task.steps = steps
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def _move(session, release, target, task=None):
    """Move a release along the state machine; returns False if not allowed."""
    current = S(release.status)
    if current == target:
        return True
    if not can_transition(current, target) or (
            task is not None and task.kind == "build" and not is_forward(current, target)
            and target not in (S.FAILED, S.CANCELLED)):
        log.info("release %s: refusing %s -> %s", release.id, current.value, target.value)
        return False
    release.status = target.value
    release_changed(session, release, task_id=task.id if task is not None else None)
    return True


def _target(session, release, server_id):
    target = session.get(ReleaseTarget, (release.id, server_id))
    if target is None:
        if session.get(Server, server_id) is None:
            return None
        target = ReleaseTarget(release_id=release.id, server_id=server_id, state="ready",
                               updated_at=utcnow())
        session.add(target)
    return target


def _record_build(session, task, event):
    """The facts of ``build_built``: which commit was built, and when."""
    release = task.release
    if _is_latest_build(task):
        release.commit = event.commit
        release.built_at = event.at
        release.cron_config = event.cron


def _on_build_built(session, task, event):
    _move(session, task.release, S.BUILT, task)


def _on_build_installing(session, task, event):
    _move(session, task.release, S.INSTALLING, task)


def _is_latest_build(task):
    builds = [t for t in task.release.tasks if t.kind == "build"]
    return bool(builds) and builds[-1].id == task.id


def _on_server_ready(session, task, event):
    release = task.release
    if not _is_latest_build(task):
        return  # a late report of an earlier build of this release
    target = _target(session, release, event.server_id)
    if target is None:
        return
    target.state, target.manifest_sha256 = "ready", event.manifest_sha256
    target.error, target.updated_at = None, event.at
    release_changed(session, release, task_id=task.id)


def _record_targets(session, release, results, at):
    """Per-server outcome from a terminal event (ServerReady may still be in flight)."""
    for result in results:
        target = _target(session, release, result.server_id)
        if target is None:
            continue
        if result.ok:
            if target.state != "ready":
                target.state, target.error, target.updated_at = "ready", None, at
        else:
            target.state, target.error, target.updated_at = "failed", result.error, at


def _on_build_finished(session, task, event):
    release = task.release
    finish_task(session, task, TaskStatus.SUCCEEDED)
    _record_targets(session, release, event.servers, event.at)
    release.installed_at = event.at
    release.last_error = None
    if _move(session, release, S.INSTALLED, task):
        audit.record(session, "release.installed", "%s %s is installed on %d server(s)"
                     % (release.project.name, release.version, len(event.servers)),
                     actor="agent:%s" % task.agent, release=release)


def _on_build_failed(session, task, event):
    fail_build(session, task, event.phase, event.reason, "agent:%s" % task.agent,
               servers=event.servers, at=event.at)


def fail_build(session, task, phase, reason, actor, servers=(), at=None):
    """End a build task as failed; retry it automatically when worth it."""
    release = task.release
    reason = "%s failed: %s" % (phase, reason)
    finish_task(session, task, TaskStatus.FAILED, error=reason)
    _record_targets(session, release, servers, at or utcnow())
    release.last_error = reason
    if not _move(session, release, S.FAILED, task):
        return
    audit.record(session, "release.failed", "%s %s failed (attempt %d): %s"
                 % (release.project.name, release.version, release.build_attempts, reason),
                 actor=actor, release=release)
    if phase in RETRYABLE_PHASES:
        _retry_build(session, release)


def _retry_build(session, release):
    """Start another automatic attempt, up to MAX_AUTOMATIC_ATTEMPTS in all."""
    from rds_control.releases import rebuild_release

    if release.build_attempts >= MAX_AUTOMATIC_ATTEMPTS:
        return
    try:
        with session.begin_nested():
            rebuild_release(session, release.id, user=None, automatic=True)
    except ControlError as exc:
        log.info("no automatic retry of release %s: %s", release.id, exc)


def _on_build_cancelled(session, task, event):
    cancel_build(session, task, event.reason, "agent:%s" % task.agent)


def cancel_build(session, task, reason, actor):
    """End a build task as cancelled."""
    release = task.release
    finish_task(session, task, TaskStatus.CANCELLED, error=reason)
    if _move(session, release, S.CANCELLED, task):
        audit.record(session, "release.cancelled", "%s %s was cancelled (%s)"
                     % (release.project.name, release.version, reason),
                     actor=actor, release=release)


def _record_current(session, results, at):
    for result in results:
        server = session.get(Server, result.server_id)
        if server is not None and result.current is not None:
            server.current_version = result.current.rsplit("/", 1)[-1] or None
            server.current_checked_at = at


def _on_activation_finished(session, task, event):
    from rds_control.releases import live_release

    release = task.release
    finish_task(session, task, TaskStatus.SUCCEEDED)
    _record_current(session, event.servers, event.at)
    previous = live_release(session, release.project_id)
    if previous is not None and previous.id != release.id:
        previous.status = S.OLD.value
        previous.deactivated_at = event.at
        release_changed(session, previous)
    release.status_before_use = None
    release.activated_at = event.at
    release.last_error = None
    _move(session, release, S.USED, task)
    audit.record(session, "release.activated", "%s %s is live on %d server(s)%s"
                 % (release.project.name, release.version, len(event.servers),
                    " (was %s)" % previous.version if previous is not None else ""),
                 actor="agent:%s" % task.agent, release=release)


def _on_activation_failed(session, task, event):
    fail_activation(session, task, event.reason, event.rolled_back, "agent:%s" % task.agent,
                    servers=event.servers, at=event.at)


def fail_activation(session, task, reason, rolled_back, actor, servers=(), at=None):
    """End an activation task as failed: the release returns to where it was."""
    release = task.release
    finish_task(session, task, TaskStatus.FAILED, error=reason)
    _record_current(session, servers, at or utcnow())
    back = S(release.status_before_use or S.INSTALLED.value)
    release.status_before_use = None
    release.last_error = reason
    _move(session, release, back, task)
    audit.record(session, "release.activation_failed", "Activation of %s %s failed: %s%s"
                 % (release.project.name, release.version, reason,
                    "; servers were switched back" if rolled_back else ""),
                 actor=actor, release=release)


_FACTS = {
    agents.TASK_LOG: _store_log,
    agents.TASK_STEP: _apply_step,
    builder.SERVER_READY: _on_server_ready,
}

#: Events that carry facts and a transition: the facts apply whatever the order.
_FACT_PARTS = {
    builder.BUILD_BUILT: _record_build,
}

_HANDLERS = {
    builder.BUILD_BUILT: _on_build_built,
    builder.BUILD_INSTALLING: _on_build_installing,
    builder.BUILD_FINISHED: _on_build_finished,
    builder.BUILD_FAILED: _on_build_failed,
    builder.BUILD_CANCELLED: _on_build_cancelled,
    activator.ACTIVATION_FINISHED: _on_activation_finished,
    activator.ACTIVATION_FAILED: _on_activation_failed,
}
_HANDLERS.update(configs.ingest_handlers())  # config_pushed, config_push_failed
