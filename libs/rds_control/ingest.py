"""Applying agent events to the database, idempotently.

Rules (SPEC §1, §3):

* an event for an unknown task, or one reaching beyond its task (servers of
  another project, a start by an agent of another service or pool), raises
  ``RejectedEvent``: the consumer dead-letters it with the reason;
* an event from a run that is not the task's current run changes nothing
  (a redelivered command starts a new run: its ``task_started`` carries
  ``redelivered`` and takes over the task);
* facts (log chunks, step timings, "server N is ready") are applied whatever
  their order, idempotently, even after the task ended (several ingest
  workers may apply one task's events in parallel);
* a state-changing event whose ``seq`` is not above the last one applied is
  a duplicate or arrived late, and changes nothing; once a task has ended,
  no state-changing event is applied;
* release statuses only move along the state machine of
  ``rds_core.lifecycle``; anything else is dropped with a log line.

Text PostgreSQL cannot store (NUL, lone surrogates) is replaced before
anything is written, so such an event never fails to store: no log line is
lost and no terminal event is stuck behind it. How a run begins and ends
(shared with the reaper and claims) lives in ``rds_control.outcomes``.

Two events concern no task: heartbeats (on their own path now, but agents of
an older version send them here; ``rds_control.heartbeats``) and the
pruner's probes, which tell how far behind ingest is
(``rds_control.ingest_lag``).

Commands caused by an event (automatic retries) are queued in the outbox of
the same transaction; run ``apply_event`` through ``rds_control.unit``.
"""
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from rds_contracts import activator, agents, builder, gc, ingest, migrator
from rds_contracts.base import sanitize
from rds_contracts.registry import COMMAND_SERVICE
from rds_control import audit, configs, families, heartbeats, ingest_lag, removal
from rds_control.changes import record_change, release_changed
from rds_control.outcomes import (
    begin_run,
    cancel_build,
    fail_activation,
    fail_build,
    move_release,
    record_current,
    record_targets,
    target_of,
)
from rds_control.tasks import finish_task, is_active
from rds_core.lifecycle import ReleaseStatus, TargetState, TaskStatus
from rds_db.models import Agent, Server, Task, TaskLog
from rds_db.models.base import utcnow
from rds_settings import get_settings

log = logging.getLogger(__name__)
S = ReleaseStatus

#: Most bytes of build output stored per release (``RDS_RELEASE_LOG_LIMIT``).
RELEASE_LOG_LIMIT = get_settings().release_log_limit
TRUNCATED = ("\n[rds: log truncated: this release's log reached its limit of %d bytes "
             "(RDS_RELEASE_LOG_LIMIT); later output was dropped]\n")

def apply_event(session: Session, name: str, event: Any) -> None:
    event = _storable(event)
    if name in _NOT_TASK_EVENTS:  # heartbeats of older agents; the pruner's probes
        _NOT_TASK_EVENTS[name](session, event)
        return
    task = session.scalars(select(Task).where(Task.id == event.task_id)
                           .with_for_update()).one_or_none()
    if task is None:
        raise RejectedEvent("%s for unknown task %s" % (name, event.task_id))
    check_ownership(session, name, task, event)
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


class RejectedEvent(Exception):
    """An event that must not be applied: the consumer dead-letters it with this reason."""


def _servers_named(event):
    ids = {getattr(event, "server_id", None)}
    results = getattr(event, "servers", None)
    if isinstance(results, (list, tuple)):  # build_installing's ``servers`` is a count
        ids.update(result.server_id for result in results)
    ids.discard(None)
    return ids


def check_ownership(session, name, task, event):
    """Refuse an event that reaches beyond its task.

    Every server it names must be one of the task's project; a ``task_started``
    must come from a copy of the service that takes the task's command, in the
    task's pool (when that copy has announced itself), and a second start of
    the current run must be by the agent already running it. Other events are
    bound to the agent by their run id (128 random bits chosen by the agent
    that started the run; stale runs are dropped below).
    """
    named = _servers_named(event)
    if named:
        owned = set(session.scalars(select(Server.id).where(
            Server.id.in_(named), Server.project_id == task.project_id)))
        if named - owned:
            raise RejectedEvent("%s of task %s names server(s) %s outside project %s"
                                % (name, task.id, sorted(named - owned), task.project_id))
    if name != agents.TASK_STARTED:
        return
    service = COMMAND_SERVICE.get(task.kind)
    parts = event.agent.split("/")
    if service is not None and (len(parts) < 3 or parts[-2] != service):
        raise RejectedEvent("task %s (%s) started by %r, which is not a %s copy"
                            % (task.id, task.kind, event.agent, service))
    known = session.get(Agent, event.agent)
    if known is not None and known.pool != task.pool:
        raise RejectedEvent("task %s of pool %s started by %s of pool %s"
                            % (task.id, task.pool, event.agent, known.pool))
    if task.run_id == event.run_id and task.agent not in (None, event.agent):
        raise RejectedEvent("run %s of task %s belongs to %s, not %s"
                            % (event.run_id, task.id, task.agent, event.agent))


def _storable(event):
    """``event`` with its text made storable (an agent should have done it already)."""
    wire = event.to_wire()
    clean = sanitize(wire)
    return event if clean == wire else type(event).model_validate(clean)


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
    begin_run(session, task, event.run_id, event.at)


def _store_log(session, task, event):
    text = _within_log_limit(session, task, event.text)
    if text is None:
        return
    session.execute(insert(TaskLog).values(
        task_id=task.id, run_id=event.run_id, seq=event.seq, text=text,
        created_at=event.at).on_conflict_do_nothing())
    record_change(session, "log", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def _within_log_limit(session, task, text):
    """``text``, cut so the release's stored log stays within RELEASE_LOG_LIMIT bytes;
    the chunk that reaches the limit ends with TRUNCATED; later ones are dropped (None)."""
    tasks = select(Task.id).where(Task.release_id == task.release_id) \
        if task.release_id is not None else select(Task.id).where(Task.id == task.id)
    stored = session.scalar(select(func.coalesce(func.sum(func.octet_length(TaskLog.text)), 0))
                            .where(TaskLog.task_id.in_(tasks)))
    room = RELEASE_LOG_LIMIT - stored
    if room <= 0:
        return None
    data = text.encode()
    if len(data) <= room:
        return text
    return data[:room].decode(errors="ignore") + TRUNCATED % RELEASE_LOG_LIMIT


def _apply_step(session, task, event):
    steps = dict(task.steps or {})
    step = dict(steps.get(event.step, {}))
    step[event.state] = event.at.isoformat()
    steps[event.step] = step
    task.steps = steps
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def _record_build(session, task, event):
    """The facts of ``build_built``: which commit was built, and when."""
    release = task.release
    if _is_latest_build(task):
        release.commit = event.commit
        release.built_at = event.at
        release.cron_config = event.cron


def _on_build_built(session, task, event):
    move_release(session, task.release, S.BUILT, task)


def _on_build_installing(session, task, event):
    move_release(session, task.release, S.INSTALLING, task)


def _is_latest_build(task):
    builds = [t for t in task.release.tasks if t.kind == "build"]
    return bool(builds) and builds[-1].id == task.id


def _on_server_ready(session, task, event):
    release = task.release
    if not _is_latest_build(task):
        return  # a late report of an earlier build of this release
    target = target_of(session, release, event.server_id)
    if target is None:
        return
    target.state, target.manifest_sha256 = TargetState.READY, event.manifest_sha256
    target.error, target.updated_at = None, event.at
    release_changed(session, release, task_id=task.id)


def _on_build_finished(session, task, event):
    release = task.release
    finish_task(session, task, TaskStatus.SUCCEEDED)
    record_targets(session, release, event.servers, event.at)
    release.installed_at = event.at
    release.last_error = None
    _record_migrations(session, release, event.migrations)
    if families.hold_parent(session, release):  # a parent is installed with its children
        return
    if move_release(session, release, S.INSTALLED, task):
        audit.record(session, "release.installed", "%s %s is installed on %d server(s)"
                     % (release.project.name, release.version, len(event.servers)),
                     actor="agent:%s" % task.agent, release=release)
        families.child_installed(session, release)


def _on_build_failed(session, task, event):
    fail_build(session, task, event.phase, event.reason, "agent:%s" % task.agent,
               servers=event.servers, at=event.at)


def _on_build_cancelled(session, task, event):
    cancel_build(session, task, event.reason, "agent:%s" % task.agent)


def _on_activation_finished(session, task, event):
    from rds_control.releases import live_release

    release = task.release
    finish_task(session, task, TaskStatus.SUCCEEDED)
    record_current(session, event.servers, event.at)
    previous = live_release(session, release.project_id)
    if previous is not None and previous.id != release.id:
        previous.status = S.OLD
        previous.deactivated_at = event.at
        release_changed(session, previous)
    release.status_before_use = None
    release.activated_at = event.at
    release.last_error = None
    move_release(session, release, S.USED, task)
    audit.record(session, "release.activated", "%s %s is live on %d server(s)%s"
                 % (release.project.name, release.version, len(event.servers),
                    " (was %s)" % previous.version if previous is not None else ""),
                 actor="agent:%s" % task.agent, release=release)
    families.activated(session, task)


def _on_activation_failed(session, task, event):
    fail_activation(session, task, event.reason, event.rolled_back, "agent:%s" % task.agent,
                    servers=event.servers, at=event.at)


def _record_migrations(session, release, listing):
    from rds_control.migrations import record_listing

    record_listing(session, release, listing)


def _on_migration_event(name):
    def handle(session, task, event):
        from rds_control.migrations import on_event

        on_event(session, name, task, event)
    return handle


#: Events that concern no task (``rds_control.heartbeats``, ``rds_control.ingest_lag``).
_NOT_TASK_EVENTS: dict[str, Callable[[Session, Any], None]] = {
    agents.AGENT_HEARTBEAT: heartbeats.apply_heartbeat,
    ingest.INGEST_PROBE: ingest_lag.apply_probe,
}

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
    gc.REMOVAL_FINISHED: removal.on_removal_finished,
    gc.REMOVAL_FAILED: removal.on_removal_failed,
    gc.SERVERS_INSPECTED: removal.on_servers_inspected,
    gc.INSPECTION_FAILED: removal.on_inspection_failed,
    **{name: _on_migration_event(name) for name in (
        migrator.MIGRATION_FINISHED, migrator.MIGRATION_FAILED, migrator.MIGRATION_CANCELLED)},
}
_HANDLERS.update(configs.ingest_handlers())  # config_pushed, config_push_failed
