"""How a task run begins and ends: the rules shared by ingest, the reaper and claims.

Ingest applies the agents' own reports of a task's end; the reaper ends the
tasks that can no longer report (agent gone, deadline passed, cancel never
confirmed); a claim begins a run or ends a cancelled task. All of them move
the task and its release through the same functions here, so a task ends the
same way whoever ends it:

* :func:`begin_run` makes a run the task's current run (a build's release
  becomes ``building``);
* :func:`fail_build` ends a build as failed and starts another automatic
  attempt when the failure is worth retrying (checkout, upload, internal);
* :func:`cancel_build` and :func:`fail_activation` end the other ways;
* :func:`end_task` picks the right one for any kind of task.

Release statuses only move along the state machine of ``rds_core.lifecycle``;
anything else is refused with a log line.
"""
import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from rds_contracts.base import ServerResult
from rds_control import audit, families
from rds_control.changes import record_change, release_changed
from rds_control.errors import ControlError
from rds_control.tasks import finish_task
from rds_core.lifecycle import (
    MAX_AUTOMATIC_ATTEMPTS,
    ReleaseStatus,
    TargetState,
    TaskKind,
    TaskStatus,
    can_transition,
    is_forward,
)
from rds_db.models import ReleaseRequest, ReleaseTarget, Server, Task
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)
S = ReleaseStatus

#: Build failures worth another automatic attempt (a failing build script is
#: not: it would fail the same way again).
RETRYABLE_PHASES = {"checkout", "upload", "internal"}


def begin_run(session: Session, task: Task, run_id: str, at: datetime) -> None:
    """Make ``run_id`` the task's current run."""
    task.run_id = run_id
    if task.status == TaskStatus.QUEUED.value:
        task.status = TaskStatus.RUNNING
    task.started_at = task.started_at or at
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)
    release = task.release
    if task.kind == TaskKind.BUILD.value and release is not None:
        move_release(session, release, S.BUILDING, task)
        release.build_started_at = release.build_started_at or at


def move_release(session: Session, release: ReleaseRequest, target: ReleaseStatus,
                 task: Task | None = None) -> bool:
    """Move a release along the state machine; returns False if not allowed."""
    current = S(release.status)
    if current == target:
        return True
    if not can_transition(current, target) or (
            task is not None and task.kind == TaskKind.BUILD.value
            and not is_forward(current, target) and target not in (S.FAILED, S.CANCELLED)):
        log.info("release %s: refusing %s -> %s", release.id, current.value, target.value)
        return False
    release.status = target
    release_changed(session, release, task_id=task.id if task is not None else None)
    return True


def target_of(session: Session, release: ReleaseRequest, server_id: int) -> ReleaseTarget | None:
    """The release's row for one server (created on first report); None for unknown servers."""
    target = session.get(ReleaseTarget, (release.id, server_id))
    if target is None:
        if session.get(Server, server_id) is None:
            return None
        target = ReleaseTarget(release_id=release.id, server_id=server_id,
                               state=TargetState.READY,
                               updated_at=utcnow())
        session.add(target)
    return target


def record_targets(session: Session, release: ReleaseRequest, results: Iterable[ServerResult],
                   at: datetime) -> None:
    """Per-server outcome from a terminal event (ServerReady may still be in flight)."""
    for result in results:
        target = target_of(session, release, result.server_id)
        if target is None:
            continue
        if result.ok:
            if target.state != TargetState.READY:
                target.state, target.error, target.updated_at = TargetState.READY, None, at
        else:
            target.state, target.error, target.updated_at = TargetState.FAILED, result.error, at


def record_current(session: Session, results: Iterable[ServerResult], at: datetime) -> None:
    """What ``current`` reads on each server, as an agent reported it."""
    for result in results:
        server = session.get(Server, result.server_id)
        if server is not None and result.current is not None:
            server.current_version = result.current.rsplit("/", 1)[-1] or None
            server.current_checked_at = at


def fail_build(session: Session, task: Task, phase: str, reason: str, actor: str,
               servers: Iterable[ServerResult] = (), at: datetime | None = None) -> None:
    """End a build task as failed; retry it automatically when worth it."""
    release = task.require_release()
    reason = "%s failed: %s" % (phase, reason)
    finish_task(session, task, TaskStatus.FAILED, error=reason)
    record_targets(session, release, servers, at or utcnow())
    release.last_error = reason
    if not move_release(session, release, S.FAILED, task):
        return
    audit.record(session, "release.failed", "%s %s failed (attempt %d): %s"
                 % (release.project.name, release.version, release.build_attempts, reason),
                 actor=actor, release=release)
    if phase in RETRYABLE_PHASES:
        _retry_build(session, release)
    families.child_failed(session, release)


def _retry_build(session: Session, release: ReleaseRequest) -> None:
    """Start another automatic attempt, up to MAX_AUTOMATIC_ATTEMPTS in all."""
    from rds_control.releases import rebuild_release

    if release.build_attempts >= MAX_AUTOMATIC_ATTEMPTS:
        return
    try:
        with session.begin_nested():
            rebuild_release(session, release.id, user=None, automatic=True)
    except ControlError as exc:
        log.info("no automatic retry of release %s: %s", release.id, exc)


def cancel_build(session: Session, task: Task, reason: str, actor: str) -> None:
    """End a build task as cancelled."""
    release = task.require_release()
    finish_task(session, task, TaskStatus.CANCELLED, error=reason)
    if move_release(session, release, S.CANCELLED, task):
        audit.record(session, "release.cancelled", "%s %s was cancelled (%s)"
                     % (release.project.name, release.version, reason),
                     actor=actor, release=release)
    families.child_failed(session, release)


def fail_activation(session: Session, task: Task, reason: str, rolled_back: bool, actor: str,
                    servers: Iterable[ServerResult] = (), at: datetime | None = None) -> None:
    """End an activation task as failed: the release returns to where it was."""
    release = task.require_release()
    finish_task(session, task, TaskStatus.FAILED, error=reason)
    record_current(session, servers, at or utcnow())
    back = S(release.status_before_use or S.INSTALLED.value)
    release.status_before_use = None
    release.last_error = reason
    move_release(session, release, back, task)
    audit.record(session, "release.activation_failed", "Activation of %s %s failed: %s%s"
                 % (release.project.name, release.version, reason,
                    "; servers were switched back" if rolled_back else ""),
                 actor=actor, release=release)
    families.activation_failed(session, task)


def end_task(session: Session, task: Task, reason: str, actor: str,
             cancelled: bool = False) -> None:
    """End any task that will not report its own end (failed, or cancelled)."""
    if cancelled and task.kind == TaskKind.BUILD.value:
        cancel_build(session, task, reason, actor)
    elif task.kind == TaskKind.BUILD.value:
        fail_build(session, task, "internal", reason, actor)
    elif task.kind == TaskKind.ACTIVATE.value:
        fail_activation(session, task, reason, rolled_back=False, actor=actor)
    elif task.kind == TaskKind.MIGRATE.value:
        from rds_control.migrations import end_task as end_migration

        end_migration(session, task, TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED,
                      reason, actor)
    elif task.kind == TaskKind.CONFIG.value:
        from rds_control.configs import finish_push

        finish_push(session, task, False, reason=reason)
    else:
        finish_task(session, task, TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED,
                    error=reason)
