"""Project migrations, control side: record, start, chain, finish; the floor.

* :func:`record_listing` (ingest, in the transaction that makes a release
  ``installed``): each listed name becomes a ``pending`` migration of the
  project, attached to the release it first appeared in; a known name keeps
  its first release and its state.
* :func:`apply_migration` / :func:`rollback_migration` (migrations page, API,
  CLI) start one ``migrate`` task; :func:`run_pre_migrations` ("Run pre
  migrations") starts the first pending pre migration a release needs and
  marks the release (``migration_status = running``) so each success starts
  the next one, in order, until none is left (``done``) or one fails
  (``failed``).
* Migrate tasks share the project's ``activate`` lane, so the partial unique
  index of ``tasks`` allows one migration (or activation) per project at a
  time; the migration row is locked and its state checked before a task
  starts, so a double click never runs it twice.
* :func:`on_event` applies the migrator's terminal events; :func:`end_task`
  is the reaper's way to end a migrate task whose agent went silent.
* :func:`rollback_floor` is the plain function other parts (GC, retention)
  use: the release nothing older than which may go live again.

Where a migration runs: in ``releases/<version>`` on the project's migration
host (``projects.migration_server``, default its first server). The version
is the release passed in ("Run pre migrations"), else the live release if it
is that migration's release or newer, else the release it appeared in.
Rules (who, when, the delay, the floor) are in ``rds_control.policy``.
"""
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from rds_contracts import migrator
from rds_contracts.migrator import MigrateCommand, MigrationListing
from rds_control import audit, facts, policy
from rds_control.changes import record_change, release_changed
from rds_control.errors import Conflict, ControlError, InvalidInput, NotFound, Refused
from rds_control.projects import get_project
from rds_control.tasks import finish_task, new_task_id, server_specs, start_task
from rds_control.users import can
from rds_core import versions
from rds_core.lifecycle import ACTIVATABLE, TaskKind, TaskStatus
from rds_core.migrations import Direction, MigrationState, MigrationType
from rds_core.migrations import PreMigrationRun as PreRun
from rds_db.models import Migration, Project, ReleaseRequest, Server, Task, User
from rds_db.models.base import utcnow
from rds_db.session import affected_rows

log = logging.getLogger(__name__)
M = MigrationState


def record_listing(session: Session, release: ReleaseRequest,
                   listing: MigrationListing | None) -> int:
    """Record what a build listed; returns how many migrations are new."""
    if listing is None:
        return 0
    added = 0
    for kind in MigrationType:
        for name in getattr(listing, kind):
            added += affected_rows(session, insert(Migration).values(
                project_id=release.project_id, type=kind, name=name,
                release_id=release.id, state=M.PENDING)
                .on_conflict_do_nothing(index_elements=["project_id", "type", "name"]))
    if added:
        record_change(session, "migration", project_id=release.project_id,
                      release_id=release.id)
    return added


def rollback_floor(session: Session, project: Project | int) -> policy.Floor | None:
    """The project's rollback floor (GC keeps it and everything newer), or None."""
    project_id = project if isinstance(project, int) else project.id
    return facts.floors(session, [project_id]).get(project_id)


def migration_host(project: Project) -> Server:
    """The server migrations run on: ``migration_server`` or the first server."""
    if not project.servers:
        raise Conflict("project %s has no servers to run migrations on" % project.name)
    if project.migration_server:
        for server in project.servers:
            if server.label == project.migration_server:
                return server
        raise Conflict("the migration server %s of project %s is not one of its servers"
                       % (project.migration_server, project.name), field="migration_server")
    return project.servers[0]


def get_migration(session: Session, migration_id: int, lock: bool = False) -> Migration:
    query = select(Migration).where(Migration.id == migration_id)
    if lock:
        query = query.with_for_update()
    migration = session.scalars(query).one_or_none()
    if migration is None:
        raise NotFound("no migration with id %s" % migration_id)
    return migration


def migration_facts(migration: Migration, live_version: str | None,
                    delay_days: int) -> policy.MigrationFacts:
    """The rules' view of a migration (``live_version``: the project's live release)."""
    release = migration.release
    introduced_live = live_version is not None and (release is None or versions.version_key(
        live_version) >= versions.version_key(release.version))
    return policy.MigrationFacts(
        name=migration.name, type=MigrationType(migration.type),
        state=MigrationState(migration.state),
        release_version=release.version if release is not None else None,
        release_activated_at=release.activated_at if release is not None else None,
        introduced_live=introduced_live, delay_days=delay_days,
        release_line=release.release_line if release is not None else None)


def _run_in(session: Session, migration: Migration,
            live: ReleaseRequest | None) -> ReleaseRequest:
    """The release whose directory the script runs in (see the module docstring)."""
    own = migration.release
    if live is not None and (own is None or versions.version_key(live.version)
                             >= versions.version_key(own.version)):
        return live
    if own is None or own.deleted_at is not None or own.destroyed_at is not None:
        raise Conflict("migration %s has no release on the servers to run in"
                       % migration.name)
    return own


def _start(session: Session, project: Project, migration: Migration, release: ReleaseRequest,
           direction: Direction, user: User | None) -> Task:
    script = project.script("migration")
    if script is None:
        raise Conflict("project %s has no migration script" % project.name,
                       field="scripts.migration")
    host = migration_host(project)
    command = MigrateCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        version=release.version, release_line=release.release_line,
        deploy_path=project.deploy_path, servers=server_specs(project),
        host=server_specs(project)[project.servers.index(host)],
        type=migration.type, name=migration.name, direction=direction.value, script=script)
    task = start_task(session, TaskKind.MIGRATE, project, command, release=release, user=user)
    migration.state = M.APPLYING if direction == Direction.UP else M.ROLLING_BACK
    migration.task_id = task.id
    migration.last_error = None
    audit.record(session, "migration.%s" % ("applying" if direction == Direction.UP
                                             else "rolling_back"),
                 "Started %s %s migration %s of %s in %s on %s"
                 % ("applying" if direction == Direction.UP else "rolling back",
                    migration.type, migration.name, project.name, release.version, host.label),
                 user=user, project=project, release=release, migration=migration.name)
    record_change(session, "migration", project_id=project.id, release_id=release.id,
                  task_id=task.id)
    return task


def _locked(session: Session, migration_id: int) -> tuple[Project, Migration]:
    migration = get_migration(session, migration_id)
    project = get_project(session, session.get_one(Project, migration.project_id).name, lock=True)
    return project, get_migration(session, migration_id, lock=True)


def apply_migration(session: Session, migration_id: int, user: User | None,
                    now: datetime | None = None) -> Migration:
    """Run one pending (or failed) migration ``up``; ``now`` is the rules' clock."""
    project, migration = _locked(session, migration_id)
    live = _live(session, project.id)
    situation = facts.project_situation(session, project, user, now)
    policy.require(policy.apply_migration(
        migration_facts(migration, live.version if live else None,
                        project.post_migration_delay_days), situation, now or utcnow()))
    _start(session, project, migration, _run_in(session, migration, live), Direction.UP, user)
    return migration


def rollback_migration(session: Session, migration_id: int, user: User | None) -> Migration:
    """Run one applied migration ``down``."""
    project, migration = _locked(session, migration_id)
    live = _live(session, project.id)
    situation = facts.project_situation(session, project, user)
    policy.require(policy.rollback_migration(
        migration_facts(migration, live.version if live else None,
                        project.post_migration_delay_days), situation))
    _start(session, project, migration, _run_in(session, migration, live), Direction.DOWN,
           user)
    return migration


def _live(session: Session, project_id: int) -> ReleaseRequest | None:
    from rds_control.releases import live_release

    return live_release(session, project_id)


def _next_pre(session: Session, release: ReleaseRequest) -> Migration | None:
    """The first pre migration ``release`` needs that is pending or failed."""
    key = versions.version_key(release.version)
    rows = session.scalars(
        select(Migration).outerjoin(ReleaseRequest, ReleaseRequest.id == Migration.release_id)
        .where(Migration.project_id == release.project_id,
               Migration.type == MigrationType.PRE,
               Migration.state.in_([M.PENDING, M.FAILED]))
        .order_by(ReleaseRequest.version_key.nullsfirst(), Migration.id)
        .with_for_update(of=Migration))
    for migration in rows:
        if migration.release is None or versions.version_key(migration.release.version) <= key:
            return migration
    return None


def run_pre_migrations(session: Session, release_id: int, user: User | None) -> ReleaseRequest:
    """"Run pre migrations": run the release's pending pre migrations in order."""
    from rds_control.releases import get_release

    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    policy.require(policy.run_pre_migrations(facts.release_facts(release),
                                             facts.situation(session, release, user)))
    migration = _next_pre(session, release)
    if migration is None:  # only applying ones are left: the chain is already running
        raise Conflict("the pre migrations of %s are already running" % release.version)
    release.migration_status = PreRun.RUNNING
    _start(session, project, migration, release, Direction.UP, user)
    audit.record(session, "release.pre_migrations", "Running the pre migrations of %s %s: %s"
                 % (project.name, release.version, ", ".join(policy.pending_pre(
                     facts.release_facts(release), facts.situation(session, release, user)))),
                 user=user, release=release)
    release_changed(session, release)
    return release


def _continue_pre(session: Session, task: Task) -> None:
    """After a pre migration of a "Run pre migrations" chain succeeded: the next one."""
    release = task.release
    if release is None or release.migration_status != PreRun.RUNNING:
        return
    nxt = _next_pre(session, release)
    if nxt is None:
        release.migration_status = PreRun.DONE
        release_changed(session, release)
        return
    try:
        with session.begin_nested():
            project = get_project(session, release.project.name, lock=True)
            if release.status not in ACTIVATABLE:
                raise Conflict("release %s is %s now" % (release.version, release.status))
            user = session.get(User, task.user_id) if task.user_id else None
            _start(session, project, nxt, release, Direction.UP, user)
    except ControlError as exc:
        release.migration_status = PreRun.FAILED
        release.last_error = "pre migrations stopped before %s: %s" % (nxt.name, exc)
        log.info("release %s: %s", release.id, release.last_error)
    release_changed(session, release)


def _for_task(session: Session, task: Task) -> Migration | None:
    return session.scalars(select(Migration).where(Migration.task_id == task.id)
                           .with_for_update()).one_or_none()


def end_task(session: Session, task: Task, status: TaskStatus, reason: str | None,
             actor: str, at: datetime | None = None) -> None:
    """End a migrate task and move its migration (ingest and the reaper)."""
    finish_task(session, task, status, error=reason)
    migration = _for_task(session, task)
    if migration is None:
        return
    up = (task.command or {}).get("direction") == Direction.UP
    ok = status == TaskStatus.SUCCEEDED
    if ok:
        migration.state = M.APPLIED if up else M.PENDING
        migration.applied_at = (at or utcnow()) if up else None
        migration.last_error = None
    elif status == TaskStatus.CANCELLED:
        # cancelled mid-way: the script may have done part of its work; applying
        # (or rolling back) again is what the person will do next
        migration.state = M.FAILED if up else M.ROLLBACK_FAILED
        migration.last_error = reason or "cancelled"
    else:
        migration.state = M.FAILED if up else M.ROLLBACK_FAILED
        migration.last_error = reason
    verb = "applied" if up else "rolled back"
    audit.record(session, "migration.%s" % ("applied" if up else "rolled_back") if ok
                 else "migration.failed",
                 "%s migration %s of %s %s%s" % (
                     migration.type.capitalize(), migration.name, task.project.name,
                     verb if ok else "was not " + verb,
                     "" if ok else ": %s" % (reason or status).splitlines()[0]),
                 actor=actor, project=task.project, release=task.release,
                 migration=migration.name)
    record_change(session, "migration", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)
    release = task.release
    if release is not None and release.migration_status == PreRun.RUNNING:
        if ok and up and migration.type == MigrationType.PRE:
            _continue_pre(session, task)
        elif not ok:
            release.migration_status = PreRun.FAILED
            release.last_error = "pre migration %s failed: %s" % (migration.name, reason)
            release_changed(session, release)
    elif release is not None:
        release_changed(session, release)


MigrationEnd = migrator.MigrationFinished | migrator.MigrationFailed | migrator.MigrationCancelled


def on_event(session: Session, name: str, task: Task, event: MigrationEnd) -> None:
    """Apply a terminal event of the migrator (called by ingest with its ``name``)."""
    actor = "agent:%s" % task.agent
    if isinstance(event, migrator.MigrationFinished):
        end_task(session, task, TaskStatus.SUCCEEDED, None, actor, at=event.at)
    elif isinstance(event, migrator.MigrationFailed):
        end_task(session, task, TaskStatus.FAILED, event.reason, actor, at=event.at)
    else:
        end_task(session, task, TaskStatus.CANCELLED, event.reason, actor, at=event.at)


def cancel_migration(session: Session, migration_id: int, user: User | None) -> Migration:
    """Cancel the running task of a migration (the remote process group is killed)."""
    from rds_contracts.killer import CancelCommand
    from rds_control import outbox

    migration = get_migration(session, migration_id, lock=True)
    task = migration.task
    if task is None or task.finished_at is not None:
        raise Conflict("migration %s is not running" % migration.name)
    if user is not None and not can(user, "deploy"):
        raise Refused("your role (%s) may not deploy" % user.role)
    outbox.enqueue(session, CancelCommand(task_id=task.id, initiator=audit.actor_name(user)),
                   task.pool, broadcast=True)
    if task.status == TaskStatus.QUEUED:
        end_task(session, task, TaskStatus.CANCELLED, "cancelled before it started",
                 audit.actor_name(user))
    else:
        task.status = TaskStatus.CANCELLING
        task.cancel_requested_at = utcnow()
        record_change(session, "task", project_id=task.project_id,
                      release_id=task.release_id, task_id=task.id)
    audit.record(session, "migration.cancelling", "Cancelled migration %s of %s"
                 % (migration.name, task.project.name), user=user, project=task.project)
    return migration


# --- reading: the migrations page, the API -------------------------------------------

@dataclass
class MigrationRow:
    migration: Migration
    project: str
    release_version: str | None
    #: Days before a post migration may run (None: not applicable or its release never
    #: went live).
    days_left: float | None
    actions: dict[str, policy.Denial | None]


FILTERS: dict[str, frozenset[str]] = {"type": frozenset(MigrationType),
                                      "state": frozenset(MigrationState)}


def list_migrations(session: Session, user: User | None, project: str | None = None,
                    type: str | None = None, state: str | None = None,
                    now: datetime | None = None, limit: int = 200,
                    only_id: int | None = None) -> list[MigrationRow]:
    """Migrations, newest first, with each one's allowed actions for ``user`` (a fixed
    number of queries, whatever the number of rows and projects)."""
    for field, value in (("type", type), ("state", state)):
        if value and value not in FILTERS[field]:
            raise InvalidInput("%s must be one of %s" % (field, ", ".join(sorted(FILTERS[field]))),
                               field=field)
    now = now or utcnow()
    query = (select(Migration).options(selectinload(Migration.release),
                                       selectinload(Migration.task))
             .order_by(Migration.id.desc()).limit(limit))
    if project:
        query = query.where(Migration.project_id == get_project(session, project).id)
    if only_id is not None:
        query = query.where(Migration.id == only_id)
    if type:
        query = query.where(Migration.type == type)
    if state:
        query = query.where(Migration.state == state)
    rows: Sequence[Migration] = session.scalars(query).all()
    projects = {p.id: p for p in session.scalars(
        select(Project).options(selectinload(Project.scripts), selectinload(Project.servers))
        .where(Project.id.in_({m.project_id for m in rows})))}
    situations = facts.project_situations(session, list(projects.values()), user, now)
    result = []
    for m in rows:
        project_row = projects[m.project_id]
        situation = situations[m.project_id]
        live = situation.project.live
        mf = migration_facts(m, live.version if live else None,
                             project_row.post_migration_delay_days)
        result.append(MigrationRow(
            migration=m, project=project_row.name,
            release_version=m.release.version if m.release is not None else None,
            days_left=(policy.post_days_left(mf, now) if mf.type == MigrationType.POST
                       and m.state in (M.PENDING, M.FAILED) else None),
            actions={"apply": policy.apply_migration(mf, situation, now),
                     "rollback": policy.rollback_migration(mf, situation)}))
    return result
