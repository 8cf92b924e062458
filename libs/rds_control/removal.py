"""Garbage collection on the control plane: plan, schedule, and apply what gc reports.

* :func:`project_plan` loads a project's releases and answers with
  ``rds_control.retention.plan`` (the dry run the UI, the API and
  ``nameko shell`` show);
* :func:`schedule_removals` (pruner timer) starts one ``remove`` task per
  release the plan lets go, through the outbox, under the project's row lock
  (activation takes the same lock, and the policy refuses to activate a
  release being removed). A release whose last removal failed is retried
  after ``retry_after`` seconds, not on every run;
* :func:`on_removal_finished` / :func:`on_removal_failed` (ingest) record
  each server's answer: a server that confirmed gets its target ``removed``;
  the release becomes destroyed only when EVERY server of the project
  confirmed (RDS marked it after the first, bug 10). A server whose
  ``current`` points at the release kept it: that is drift, recorded on the
  server;
* :func:`check_servers` (button, API, RPC) and :func:`schedule_inspections`
  (pruner timer) start ``inspect`` tasks; :func:`on_servers_inspected`
  compares what each server holds with the database (``rds_control.drift``).

The rollback floor (issue 7, migrations) enters through :func:`rollback_floor`.
"""
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from rds_contracts.gc import (
    DEFAULT_STAGING_MAX_AGE,
    InspectionFailed,
    InspectServersCommand,
    RemovalFailed,
    RemovalFinished,
    RemoveReleaseCommand,
    ServerRemoval,
    ServersInspected,
)
from rds_control import audit, drift, outbox, unit
from rds_control.changes import record_change, release_changed
from rds_control.errors import Conflict
from rds_control.projects import get_project
from rds_control.retention import Plan, ReleaseView, RetentionSettings, plan
from rds_control.tasks import finish_task, new_task_id, server_specs, start_task
from rds_core.lifecycle import Lane, ReleaseStatus, TargetState, TaskKind, TaskStatus
from rds_db.models import Project, ReleaseRequest, ReleaseTarget, Server, Task, User
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)

ACTOR = "system:gc"
DEFAULT_RETRY_AFTER = 3600.0


def rollback_floor(session: Session, project: Project) -> str | None:
    """The oldest version of ``project`` that may still go live, or None.

    Migrations define it (``rds_control.migrations.rollback_floor``): once a
    post migration ran, nothing older than the release that introduced it may
    be activated. Every caller (plan, schedule, UI, RPC) follows this one.
    """
    from rds_control.migrations import rollback_floor as migration_floor

    floor = migration_floor(session, project)
    return floor.version if floor is not None else None


def _running_release_ids(session: Session, project_id: int) -> set[int]:
    return set(session.scalars(select(Task.release_id).where(
        Task.project_id == project_id, Task.finished_at.is_(None),
        Task.release_id.is_not(None))))


def project_plan(session: Session, project: Project, settings: RetentionSettings,
                 now: datetime | None = None) -> Plan:
    """The retention plan of one project (nothing is changed)."""
    releases = session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project.id, ReleaseRequest.destroyed_at.is_(None))).all()
    running = _running_release_ids(session, project.id)
    live = next((r for r in releases if r.status == ReleaseStatus.USED), None)
    views = [ReleaseView(id=r.id, version=r.version, status=ReleaseStatus(r.status),
                         created_at=r.created_at, deactivated_at=r.deactivated_at,
                         deleted_at=r.deleted_at, pinned=bool(r.pinned),
                         task_running=r.id in running) for r in releases]
    return plan(views, keep_releases=project.keep_releases, now=now or utcnow(),
                settings=settings, live_version=live.version if live else None,
                previous_version=live.previous_version if live else None,
                rollback_floor=rollback_floor(session, project))


def _recently_failed(session: Session, release_ids: list[int], since: datetime) -> set[int]:
    if not release_ids:
        return set()
    return set(session.scalars(select(Task.release_id).where(
        Task.release_id.in_(release_ids), Task.kind == TaskKind.REMOVE,
        Task.status == TaskStatus.FAILED, Task.finished_at > since)))


def start_removal(session: Session, project: Project, release: ReleaseRequest,
                  user: User | None = None) -> Task:
    """Queue the removal of one release from every server of its project."""
    command = RemoveReleaseCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        version=release.version, deploy_path=project.deploy_path,
        servers=server_specs(project), remove_script=project.script("remove"))
    return start_task(session, TaskKind.REMOVE, project, command, release=release, user=user)


def project_ids(session: Session) -> list[int]:
    """Every project, for timers that handle one project per transaction."""
    return list(session.scalars(select(Project.id).order_by(Project.id)))


def schedule_removals(session: Session, project_id: int, settings: RetentionSettings,
                      now: datetime | None = None,
                      retry_after: float = DEFAULT_RETRY_AFTER) -> list[str]:
    """Start a removal task for every release the project's plan lets go; returns task ids.

    Takes the project's row lock (SKIP LOCKED: a project another pruner copy
    or an activation holds is left for the next run).
    """
    now = now or utcnow()
    project = session.scalars(select(Project).where(Project.id == project_id)
                              .with_for_update(skip_locked=True)).one_or_none()
    if project is None or not project.servers:
        return []
    doomed = project_plan(session, project, settings, now).to_remove
    skip = _recently_failed(session, [d.release.id for d in doomed],
                            now - timedelta(seconds=retry_after))
    started = []
    for decision in doomed:
        if decision.release.id in skip:
            continue
        release = session.get_one(ReleaseRequest, decision.release.id)
        task = start_removal(session, project, release)
        audit.record(session, "release.removing", "Removing %s %s from the servers: %s"
                     % (project.name, release.version, decision.reason),
                     actor=ACTOR, release=release)
        started.append(task.id)
    return started


P = ParamSpec("P")
T = TypeVar("T")


def run_for_every_project(session_factory: sessionmaker[Session],
                          publisher: outbox.CommandPublisher | None,
                          fn: Callable[Concatenate[Session, int, P], list[T]],
                          *args: P.args, **kwargs: P.kwargs) -> list[T]:
    """``fn(session, project_id, ...)`` per project, each in its own unit of work.

    A project that fails is logged and skipped; the others still run.
    """
    results: list[T] = []
    for project_id in unit.run(session_factory, None, project_ids):
        try:
            results.extend(unit.run(session_factory, publisher, fn, project_id, *args,
                                    **kwargs))
        except Exception:
            log.exception("%s failed for project %s", fn.__name__, project_id)
    return results


def _record_current(server: Server, current: str | None, at: datetime) -> None:
    server.current_version = current.rstrip("/").rsplit("/", 1)[-1] if current else None
    server.current_checked_at = at


def _apply_removal(session: Session, task: Task, results: Iterable[ServerRemoval],
                   at: datetime) -> None:
    release = task.require_release()
    project = release.project
    servers = {s.id: s for s in project.servers}
    for result in results:
        server = servers.get(result.server_id)
        if server is None:
            continue
        if result.ok or result.drift or result.current is not None:
            _record_current(server, result.current, at)  # it was read (not unreachable)
        if result.drift:
            drift.record(session, server, drift.with_item(server.drift or [], {
                "kind": "current", "detail": "current points at %s, which rds wanted to "
                "remove as %s" % (result.current, release.status)}), ACTOR)
        if not result.ok:
            continue
        target = session.get(ReleaseTarget, (release.id, server.id))
        if target is None:
            target = ReleaseTarget(release_id=release.id, server_id=server.id,
                                   state=TargetState.REMOVED, updated_at=at)
            session.add(target)
        target.state, target.error, target.updated_at = TargetState.REMOVED, None, at
    session.flush()
    removed = set(session.scalars(select(ReleaseTarget.server_id).where(
        ReleaseTarget.release_id == release.id, ReleaseTarget.state == TargetState.REMOVED)))
    if release.destroyed_at is None and servers and set(servers) <= removed:
        release.destroyed_at = at
        audit.record(session, "release.destroyed", "%s %s was removed from every server "
                     "(%d)" % (project.name, release.version, len(servers)),
                     actor="agent:%s" % task.agent, release=release)
    release_changed(session, release, task_id=task.id)


def on_removal_finished(session: Session, task: Task, event: RemovalFinished) -> None:
    _apply_removal(session, task, event.servers, event.at)
    finish_task(session, task, TaskStatus.SUCCEEDED)


def on_removal_failed(session: Session, task: Task, event: RemovalFailed) -> None:
    _apply_removal(session, task, event.servers, event.at)
    finish_task(session, task, TaskStatus.FAILED, error=event.reason)
    release = task.require_release()
    audit.record(session, "release.removal_failed", "%s %s was not removed from every "
                 "server: %s" % (release.project.name, release.version,
                                 event.reason), actor="agent:%s" % task.agent,
                 release=release)


def check_servers(session: Session, project_name: str, user: User | None = None,
                  sweep_staging_older_than: int | None = DEFAULT_STAGING_MAX_AGE) -> Task:
    """Start reading every server of a project (drift); an unfinished check is reused."""
    project = get_project(session, project_name, lock=True)
    if not project.servers:
        raise Conflict("project %s has no servers to check" % project.name)
    running = session.scalars(select(Task).where(
        Task.project_id == project.id, Task.kind == TaskKind.INSPECT,
        Task.finished_at.is_(None))).first()
    if running is not None:
        return running
    command = InspectServersCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        deploy_path=project.deploy_path, servers=server_specs(project),
        sweep_staging_older_than=sweep_staging_older_than)
    task = start_task(session, TaskKind.INSPECT, project, command, user=user)
    if user is not None:
        audit.record(session, "project.check_servers", "Checking the servers of %s"
                     % project.name, user=user, project=project)
    return task


def schedule_inspection(session: Session, project_id: int, interval: float,
                        now: datetime | None = None) -> list[str]:
    """Check the project's servers if any was not checked within ``interval`` seconds."""
    now = now or utcnow()
    project = session.get(Project, project_id)
    if project is None or not project.servers:
        return []
    limit = now - timedelta(seconds=interval)
    if all(s.inspected_at is not None and s.inspected_at >= limit for s in project.servers):
        return []
    return [check_servers(session, project.name).id]


def _expected(session: Session, project: Project) -> dict[int, drift.Expected]:
    releases = session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project.id, ReleaseRequest.destroyed_at.is_(None))).all()
    live = next((r.version for r in releases if r.status == ReleaseStatus.USED), None)
    busy_ids = _running_release_ids(session, project.id)
    switching = session.execute(select(func.count()).select_from(Task).where(
        Task.project_id == project.id, Task.lane == Lane.ACTIVATE,
        Task.finished_at.is_(None))).scalar_one() > 0
    known = frozenset(r.version for r in releases)
    busy = frozenset(r.version for r in releases if r.id in busy_ids)
    return {server.id: drift.Expected(
        live=live, known=known, busy=busy, switching=switching,
        present=frozenset(r.version for r in releases for t in r.targets
                          if t.server_id == server.id and t.state == TargetState.READY))
        for server in project.servers}


def on_servers_inspected(session: Session, task: Task, event: ServersInspected) -> None:
    project = task.project
    expected = _expected(session, project)
    servers = {s.id: s for s in project.servers}
    failed = []
    for inventory in event.servers:
        server = servers.get(inventory.server_id)
        if server is None:
            continue
        server.inspected_at = event.at
        if not inventory.ok:
            server.inspection_error = inventory.error
            failed.append("%s: %s" % (server.label, inventory.error))
            continue
        server.inspection_error = None
        _record_current(server, inventory.current, event.at)
        drift.record(session, server, drift.compare(
            inventory.current, inventory.releases, inventory.unknown,
            expected[server.id]), ACTOR)
    record_change(session, "project", project_id=project.id)
    if failed:
        finish_task(session, task, TaskStatus.FAILED,
                    error="could not check %s" % "; ".join(failed))
    else:
        finish_task(session, task, TaskStatus.SUCCEEDED)


def on_inspection_failed(session: Session, task: Task, event: InspectionFailed) -> None:
    finish_task(session, task, TaskStatus.FAILED, error=event.reason)
