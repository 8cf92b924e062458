"""Load what the policy rules read (``rds_control.policy``) from the database.

:func:`situations` serves a whole board page with a fixed number of queries
(never one per row); :func:`situation` serves one project, which the control
plane calls after taking its row locks so the facts it enforces are the ones
it will change. :func:`release_facts` turns a release row (with its targets,
tasks and project servers loaded) into the value the rules see.
"""
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, joinedload

from rds_control.policy import (
    Ban,
    Floor,
    ProjectFacts,
    ReleaseFacts,
    Situation,
    UnappliedPre,
)
from rds_control.release_data import ReleaseData
from rds_control.users import can
from rds_core import versions
from rds_core.lifecycle import REBUILDABLE, Lane, ReleaseStatus, TargetState, TaskKind
from rds_core.migrations import IN_EFFECT, MigrationState, MigrationType
from rds_db.models import (
    DeploymentSwitch,
    Migration,
    Project,
    ReleaseBan,
    ReleaseRequest,
    Server,
    Task,
    User,
)
from rds_db.models.base import utcnow

S = ReleaseStatus


def release_facts(release: "ReleaseRequest | ReleaseData",
                  servers: Sequence[Server] | None = None) -> ReleaseFacts:
    """The rules' view of a release (targets and tasks loaded), among its project's
    ``servers`` (default: ``release.project.servers``, loaded)."""
    if servers is None:
        if not isinstance(release, ReleaseRequest):
            raise TypeError("give the servers of a ReleaseData's project")
        servers = release.project.servers
    ready = {t.server_id for t in release.targets if t.state == TargetState.READY}
    return ReleaseFacts(
        id=release.id, version=release.version, release_line=release.release_line,
        status=S(release.status), deleted=release.deleted_at is not None,
        destroyed=release.destroyed_at is not None, pinned=bool(release.pinned),
        ever_activated=release.activated_at is not None,
        previous_version=release.previous_version,
        not_ready_on=tuple(s.label for s in servers if s.id not in ready),
        build_running=any(t.kind == TaskKind.BUILD and t.finished_at is None
                          for t in release.tasks),
        removal_running=any(t.kind == TaskKind.REMOVE and t.finished_at is None
                            for t in release.tasks))


def busy_message(project_name: str, task: Task) -> str:
    """What a busy lane is doing, as the refusal of a second task says it."""
    command = task.command or {}
    version = command.get("version", "?")
    if task.kind == TaskKind.MIGRATE:
        return ("project %s is already running migration %s (%s) in version %s (task %s); "
                "wait for it to finish or cancel it" % (
                    project_name, command.get("name", "?"), command.get("direction", "?"),
                    version, task.id))
    what = {Lane.BUILD: "building", Lane.ACTIVATE: "activating"}.get(
        task.lane, str(task.lane)) if task.lane else "busy with"
    return ("project %s is already %s version %s (task %s); wait for it to finish or "
            "cancel it" % (project_name, what, version, task.id))


def project_problem(project: Project) -> str | None:
    """Why the project cannot build at all, or None."""
    if not project.servers:
        return "project %s has no servers to deploy to" % project.name
    if project.script("build") is None:
        return "project %s has no build script" % project.name
    return None


def migration_problem(project: Project) -> str | None:
    """Why the project cannot run migrations, or None."""
    if project.script("migration") is None:
        return ("project %s has no migration script (the 'Migration up/down' script); "
                "add one to run migrations" % project.name)
    if not project.servers:
        return "project %s has no servers to run migrations on" % project.name
    return None


def _switch(session: Session) -> tuple[bool, str | None]:
    switch = session.get(DeploymentSwitch, 1)
    if switch is None:
        return True, None
    return bool(switch.enabled), switch.reason


def _busy(session: Session, projects: dict[int, Project]) -> dict[int, dict[Lane, str]]:
    busy: dict[int, dict[Lane, str]] = {pid: {} for pid in projects}
    if not projects:
        return busy
    tasks = session.scalars(select(Task).where(
        Task.project_id.in_(list(projects)), Task.lane.is_not(None),
        Task.finished_at.is_(None)))
    for task in tasks:
        if task.lane is not None:
            busy[task.project_id][Lane(task.lane)] = busy_message(
                projects[task.project_id].name, task)
    return busy


def _bans(session: Session, project_ids: Sequence[int], now: datetime) -> dict[int, list[Ban]]:
    bans: dict[int, list[Ban]] = {pid: [] for pid in project_ids}
    if not project_ids:
        return bans
    rows = session.execute(
        select(ReleaseBan, User.username).outerjoin(User, User.id == ReleaseBan.user_id)
        .where(ReleaseBan.project_id.in_(list(project_ids)), ReleaseBan.lifted_at.is_(None),
               or_(ReleaseBan.expires_at.is_(None), ReleaseBan.expires_at > now))
        .order_by(ReleaseBan.id))
    for ban, author in rows:
        bans[ban.project_id].append(Ban(release_line=ban.release_line, comment=ban.comment,
                                        author=author, expires_at=ban.expires_at))
    return bans


def _live(session: Session, project_ids: Sequence[int],
          known: Iterable["ReleaseRequest | ReleaseData"]
          ) -> dict[int, "ReleaseRequest | ReleaseData"]:
    live: dict[int, ReleaseRequest | ReleaseData] = {
        r.project_id: r for r in known if r.status == S.USED}
    missing = [pid for pid in project_ids if pid not in live]
    if missing:
        for release in session.scalars(_with_facts(select(ReleaseRequest).where(
                ReleaseRequest.project_id.in_(missing),
                ReleaseRequest.status == S.USED))).unique():
            live[release.project_id] = release
    return live


def _revert_targets(session: Session, live: dict[int, "ReleaseRequest | ReleaseData"]
                    ) -> dict[int, ReleaseRequest]:
    wanted = [(pid, r.previous_version) for pid, r in live.items() if r.previous_version]
    if not wanted:
        return {}
    rows = session.scalars(_with_facts(select(ReleaseRequest).where(or_(*[
        (ReleaseRequest.project_id == pid) & (ReleaseRequest.version == version)
        for pid, version in wanted])))).unique()
    return {r.project_id: r for r in rows}


def _latest(session: Session, project_ids: Iterable[int]) -> dict[int, int | None]:
    """Newest non-deleted release per project: one query, one index probe per project."""
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    newest = (select(ReleaseRequest.id)
              .where(ReleaseRequest.project_id == Project.id,
                     ReleaseRequest.deleted_at.is_(None))
              .order_by(ReleaseRequest.version_key.desc()).limit(1)
              .correlate(Project).scalar_subquery())
    return dict(session.execute(select(Project.id, newest).where(Project.id.in_(ids))).all())


#: Migration states that count as not applied (a pre one still gates activation).
UNAPPLIED = (MigrationState.PENDING, MigrationState.FAILED, MigrationState.APPLYING)


def floors(session: Session, project_ids: Sequence[int]) -> dict[int, Floor]:
    """The rollback floor of each project that has one (one query for all)."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(Migration.project_id, ReleaseRequest.version, Migration.name)
        .join(ReleaseRequest, ReleaseRequest.id == Migration.release_id)
        .where(Migration.project_id.in_(list(project_ids)),
               Migration.type == MigrationType.POST, Migration.state.in_(list(IN_EFFECT)))
        .order_by(Migration.id))
    best: dict[int, tuple[str, list[str]]] = {}
    for pid, version, name in rows:
        current = best.get(pid)
        if current is None or versions.version_key(version) > versions.version_key(current[0]):
            best[pid] = (version, [name])
        elif current[0] == version:
            current[1].append(name)
    return {pid: Floor(version=v, migrations=tuple(names)) for pid, (v, names) in best.items()}


def unapplied(session: Session, project_ids: Sequence[int]
              ) -> dict[MigrationType, dict[int, tuple[UnappliedPre, ...]]]:
    """Each project's migrations that are not applied, by type, in the order they run
    (one query for all projects)."""
    result: dict[MigrationType, dict[int, list[UnappliedPre]]] = {
        kind: {pid: [] for pid in project_ids} for kind in MigrationType}
    if project_ids:
        rows = session.execute(
            select(Migration.project_id, Migration.type, Migration.name,
                   ReleaseRequest.version)
            .outerjoin(ReleaseRequest, ReleaseRequest.id == Migration.release_id)
            .where(Migration.project_id.in_(list(project_ids)), Migration.state.in_(UNAPPLIED))
            .order_by(ReleaseRequest.version_key.nullsfirst(), Migration.id))
        for pid, kind, name, version in rows:
            result[MigrationType(kind)][pid].append(UnappliedPre(name=name,
                                                                 release_version=version))
    return {kind: {pid: tuple(items) for pid, items in by_project.items()}
            for kind, by_project in result.items()}


def _with_facts(query: Select[ReleaseRequest]) -> Select[ReleaseRequest]:
    """Load what :func:`release_facts` reads in the same query (a few releases at most:
    the live one and the revert target of each project), without a query per row (the
    project's servers come from the projects the situations are built for)."""
    return query.options(joinedload(ReleaseRequest.targets),
                         joinedload(ReleaseRequest.tasks).defer(Task.command))


def _who(user: User | None) -> tuple[str | None, bool]:
    """The asking user's role and whether it may deploy (None: the system acts)."""
    if user is None:  # automatic retries, the reaper
        return None, True
    return str(user.role), can(user, "deploy")


def _build(session: Session, projects: dict[int, Project],
           known: Sequence["ReleaseRequest | ReleaseData"],
           user: User | None, now: datetime | None,
           latest_for: Iterable[int]) -> dict[int, Situation]:
    now = now or utcnow()
    ids = sorted(projects)
    latest = _latest(session, sorted(set(latest_for)))
    busy = _busy(session, projects)
    bans = _bans(session, ids, now)
    live = _live(session, ids, known)
    reverts = _revert_targets(session, live)
    project_floors = floors(session, ids)
    pending = unapplied(session, ids)
    enabled, reason = _switch(session)
    role, can_deploy = _who(user)
    result = {}
    for pid, project in projects.items():
        live_row, revert_row = live.get(pid), reverts.get(pid)
        result[pid] = Situation(
            project=ProjectFacts(
                name=project.name, problem=project_problem(project),
                latest_release_id=latest.get(pid),
                live=(release_facts(live_row, project.servers)
                      if live_row is not None else None),
                revert_target=(release_facts(revert_row, project.servers)
                               if revert_row is not None else None),
                busy=busy[pid], bans=tuple(bans[pid]), floor=project_floors.get(pid),
                unapplied_pre=pending[MigrationType.PRE].get(pid, ()),
                unapplied_post=pending[MigrationType.POST].get(pid, ()),
                migration_problem=migration_problem(project)),
            deployments_enabled=enabled, deployments_reason=reason,
            role=role, can_deploy=can_deploy)
    return result


def situations(session: Session, releases: Sequence["ReleaseRequest | ReleaseData"],
               user: User | None, now: datetime | None = None,
               latest_for: Iterable[int] | None = None,
               projects: dict[int, Project] | None = None) -> dict[int, Situation]:
    """The Situation of every project of ``releases`` (keyed by project id; ``projects``,
    with servers and scripts loaded, is required for ``ReleaseData`` rows).

    The newest release id of a project is looked up only for the projects in
    ``latest_for`` (default: those where some release could be rebuilt), so a
    board page costs a fixed number of queries.
    """
    if latest_for is None:
        latest_for = {r.project_id for r in releases
                      if S(r.status) in REBUILDABLE and r.activated_at is None
                      and r.deleted_at is None}
    if projects is None:
        projects = {}
        for release in releases:
            if not isinstance(release, ReleaseRequest):
                raise TypeError("give the projects of ReleaseData rows")
            projects[release.project_id] = release.project
    return _build(session, {r.project_id: projects[r.project_id] for r in releases}, releases,
                  user, now, latest_for)


def situation(session: Session, release: ReleaseRequest, user: User | None,
              now: datetime | None = None) -> Situation:
    """The Situation of one release's project (for enforcing a rule)."""
    return situations(session, [release], user, now,
                      latest_for=[release.project_id])[release.project_id]


def project_situations(session: Session, projects: Sequence[Project], user: User | None,
                       now: datetime | None = None) -> dict[int, Situation]:
    """The Situations of several projects at once (a fixed number of queries)."""
    return _build(session, {p.id: p for p in projects}, [], user, now, [])


def project_situation(session: Session, project: Project, user: User | None,
                      now: datetime | None = None) -> Situation:
    """The Situation of a project without a release at hand (new releases)."""
    return _build(session, {project.id: project}, [], user, now, [project.id])[project.id]
