"""What an API release body reads, loaded as plain values: the one place that says
which columns a listed or shown release carries.

The API's release list and a single release (``GET /api/v1/releases/<id>``)
read their rows here, so they cannot differ. The rows are read with a fixed
number of queries (the releases with their project and author names, their
tasks, their targets, their projects with servers and scripts), selecting
only the columns a body shows into small frozen dataclasses: no ORM objects,
no identity map, no lazy loads. Building 500 ORM releases with their tasks
and targets cost several times what the database takes to answer.

:func:`load` returns the rows in the order of the query it is given, and the
:class:`~rds_db.models.Project` objects the rules' situations are built from
(``rds_control.facts.situations``).
"""
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from rds_control.errors import NotFound
from rds_core.lifecycle import ReleaseStatus, TargetState, TaskKind, TaskStatus
from rds_db.models import Project, ReleaseRequest, ReleaseTarget, Server, Task, User


@dataclass(frozen=True, slots=True)
class TaskData:
    """A task of a release, as its API body shows it (no command, no log)."""

    id: str
    kind: TaskKind
    status: TaskStatus
    agent: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    steps: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TargetData:
    """The state of a release on one server (``server``: its ``user@host:port``)."""

    server_id: int
    server: str
    state: TargetState
    error: str | None


@dataclass(frozen=True, slots=True)
class ReleaseData:
    """One release with its tasks (oldest first) and targets (in server order)."""

    id: int
    project_id: int
    project_name: str
    author: str | None
    version: str
    status: ReleaseStatus
    release_line: int
    comment: str
    ref: str
    commit: str | None
    previous_version: str | None
    last_error: str | None
    build_attempts: int
    deleted_at: datetime | None
    destroyed_at: datetime | None
    pinned: bool
    config_revision: int | None
    cron_config: str | None
    migration_status: str
    created_at: datetime | None
    build_started_at: datetime | None
    built_at: datetime | None
    installed_at: datetime | None
    activated_at: datetime | None
    tasks: tuple[TaskData, ...]
    targets: tuple[TargetData, ...]


#: The tables' columns: statements of plain columns skip the ORM's result machinery (a
#: third of the cost of reading 500 releases with their tasks and targets).
RELEASE = ReleaseRequest.__table__.c
_TASK = Task.__table__.c
_TARGET = ReleaseTarget.__table__.c

#: The release columns a body shows, in :class:`ReleaseData`'s order (after the names).
_RELEASE_COLUMNS = (
    RELEASE.version, RELEASE.status, RELEASE.release_line, RELEASE.comment, RELEASE.ref,
    RELEASE.commit, RELEASE.previous_version, RELEASE.last_error, RELEASE.build_attempts,
    RELEASE.deleted_at, RELEASE.destroyed_at, RELEASE.pinned, RELEASE.config_revision,
    RELEASE.cron_config, RELEASE.migration_status, RELEASE.created_at,
    RELEASE.build_started_at, RELEASE.built_at, RELEASE.installed_at, RELEASE.activated_at)

# The statements are built once (building one costs about as much as running it):
# each request adds its ``where`` and ``order_by`` to a copy.
_PROJECT, _USER = Project.__table__.c, User.__table__.c
_ROWS = (select(RELEASE.id, RELEASE.project_id, _PROJECT.name, _USER.username,
                *_RELEASE_COLUMNS)
         .join_from(ReleaseRequest.__table__, Project.__table__,
                    _PROJECT.id == RELEASE.project_id)
         .outerjoin(User.__table__, _USER.id == RELEASE.user_id))
_TASKS = select(_TASK.release_id, _TASK.id, _TASK.kind, _TASK.status, _TASK.agent,
                _TASK.created_at, _TASK.started_at, _TASK.finished_at, _TASK.error,
                _TASK.steps).order_by(_TASK.release_id, _TASK.created_at, _TASK.id)
_TARGETS = select(_TARGET.release_id, _TARGET.server_id, _TARGET.state, _TARGET.error)
_PROJECTS = select(Project).options(joinedload(Project.servers), joinedload(Project.scripts))


def rows_query() -> Select[*tuple[Any, ...]]:
    """The select of the release columns; add ``where``, ``order_by`` and ``limit`` on the
    columns of :data:`RELEASE` (the table's, not the ORM's attributes)."""
    return _ROWS


def _tasks(session: Session, ids: Sequence[int]) -> dict[int, list[TaskData]]:
    by_release: dict[int, list[TaskData]] = defaultdict(list)
    rows = session.execute(_TASKS.where(_TASK.release_id.in_(ids))).all()
    for release_id, *values in rows:
        by_release[release_id].append(TaskData(*values))
    return by_release


def _targets(session: Session, ids: Sequence[int],
             projects: dict[int, Project]) -> dict[int, list[TargetData]]:
    labels: dict[int, str] = {}
    order: dict[int, int] = {}
    for project in projects.values():
        for position, server in enumerate(project.servers):
            labels[server.id], order[server.id] = server.label, position
    by_release: dict[int, list[TargetData]] = defaultdict(list)
    rows = session.execute(_TARGETS.where(_TARGET.release_id.in_(ids))).all()
    missing = {server_id for _, server_id, _, _ in rows if server_id not in labels}
    if missing:  # (a server of another project: never in practice)
        for server in session.scalars(select(Server).where(Server.id.in_(missing))):
            labels[server.id], order[server.id] = server.label, len(order)
    for release_id, server_id, state, error in rows:
        by_release[release_id].append(TargetData(server_id, labels[server_id], state, error))
    for targets in by_release.values():
        targets.sort(key=lambda t: (order[t.server_id], t.server_id))
    return by_release


def load(session: Session, query: Select[*tuple[Any, ...]]
         ) -> tuple[list[ReleaseData], dict[int, Project]]:
    """The releases ``query`` (from :func:`rows_query`) selects, in its order, with the
    projects they belong to (servers and scripts loaded), by id."""
    session.flush()  # (plain column statements do not flush the session by themselves)
    heads = session.execute(query).all()
    ids = [row[0] for row in heads]
    project_ids = sorted({row[1] for row in heads})
    projects: dict[int, Project] = {}
    if project_ids:
        projects = {p.id: p for p in session.scalars(
            _PROJECTS.where(Project.id.in_(project_ids))).unique()}
    tasks = _tasks(session, ids) if ids else {}
    targets = _targets(session, ids, projects) if ids else {}
    # (mypy cannot count the columns of a star-expanded row)
    releases = [ReleaseData(*row, tuple(tasks.get(row[0], ())),  # type: ignore[call-arg]
                            tuple(targets.get(row[0], ()))) for row in heads]
    return releases, projects


def load_one(session: Session, release_id: int) -> tuple[ReleaseData, Project]:
    """One release and its project. :raise NotFound: no such id."""
    releases, projects = load(session, rows_query().where(RELEASE.id == release_id))
    if not releases:
        raise NotFound("no release with id %s" % release_id)
    return releases[0], projects[releases[0].project_id]
