"""The release board, read side: one page of releases and what each row needs.

Everything the board shows about a release is computed here, from the rows
in the database, with a fixed number of queries per page (no query per row):
who created it, its tasks (per-build lines) with their step timings, the
progress of a running build (estimated from the project's previous
successful build, as RDS did), whether it is live, and every action's
answer from ``rds_control.policy`` for the user who looks (allowed, or the
reason it is not), so buttons and tooltips come from the rules the control
plane enforces.
"""
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, joinedload, selectinload

from rds_control import facts, keyset, policy
from rds_control.errors import NotFound
from rds_control.policy import Action, Denial, ReleaseFacts
from rds_control.releases import deployment_switch
from rds_core.lifecycle import ACTIVATABLE, IN_PROGRESS, ReleaseStatus, TaskKind, TaskStatus
from rds_db.models import Project, ReleaseRequest, Task, User
from rds_db.models.base import utcnow

S = ReleaseStatus
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
#: Counting stops here: "10000+ releases" costs the same on any table size.
COUNT_CAP = keyset.COUNT_CAP



@dataclass
class Step:
    name: str
    seconds: float | None
    running: bool


@dataclass
class Progress:
    """How far a running build is, estimated from the previous successful one.

    ``percent`` is None when there is nothing to compare with (first build).
    The ``anim_*`` numbers let the page move the bar between events: at time
    t (epoch seconds) the estimate is ``base + min(t - step_started, step_max)``
    seconds out of ``total``.
    """

    percent: float | None
    step: str | None
    elapsed: float
    remaining: float | None
    base: float = 0.0
    step_started: float | None = None
    step_max: float = 0.0
    total: float | None = None


@dataclass
class TaskLine:
    task: Task
    steps: list[Step]
    seconds: float | None


@dataclass
class Row:
    release: ReleaseRequest
    live: bool
    #: Every action's answer from ``rds_control.policy``: None (allowed) or a Denial.
    actions: dict[Action, Denial | None]
    tasks: list[TaskLine]
    progress: Progress | None = None
    revert_to: str | None = None
    hint: str | None = None
    #: Pre migrations this release needs that are not applied (activation waits for them).
    pending_pre: tuple[str, ...] = ()
    #: Post migrations this release introduced that are not applied yet.
    pending_post: tuple[str, ...] = ()
    #: When they may run (activation + the project's delay; None: never activated).
    post_ready_at: datetime | None = None
    #: The project's rollback floor, if any (``rds_control.policy.Floor``).
    floor: policy.Floor | None = None

    def allows(self, action: str) -> bool:
        return self.actions.get(Action(action), Denial("unknown action")) is None

    def shown(self) -> list[tuple[Action, Denial | None]]:
        """The actions to render: allowed ones, and blocked ones with their reason."""
        return [(action, denial) for action, denial in self.actions.items()
                if denial is None or denial.shown]


@dataclass
class BoardPage:
    """One page of the board. Pages are keyset-paginated by release id (newest
    first): ``older`` is the ``before=`` cursor of the next page, ``newer`` the
    ``after=`` cursor of the previous one (None on the first page). ``total``
    is exact up to ``COUNT_CAP``; above it, ``capped`` says "at least"."""

    rows: list[Row]
    total: int
    page_size: int
    capped: bool = False
    first: bool = True
    older: int | None = None
    newer: int | None = None
    deployment_enabled: bool = True
    deployment_reason: str | None = None
    filters: dict[str, str] = field(default_factory=dict)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return _span(start, end)


def _span(start: datetime, end: datetime) -> float:
    """Seconds from ``start`` to ``end`` (never negative)."""
    return max((end - start).total_seconds(), 0.0)


def step_timings(task: Task, now: datetime | None = None) -> list[Step]:
    """The task's steps in the order they started, with durations (running: so far)."""
    now = now or utcnow()
    steps = []
    for name, times in (task.steps or {}).items():
        started = _parse_time(times.get("started"))
        finished = _parse_time(times.get("finished"))
        if started is None:
            continue
        running = finished is None and task.finished_at is None
        end = finished or (now if running else None)
        steps.append((started, Step(name, _seconds(started, end), running)))
    steps.sort(key=lambda pair: pair[0])
    return [step for _, step in steps]


def task_seconds(task: Task, now: datetime | None = None) -> float | None:
    """How long the task ran (so far, while it runs); None before it started."""
    if task.started_at is None:
        return None
    return _seconds(task.started_at, task.finished_at or now or utcnow())


def _step_offsets(task: Task) -> dict[str, tuple[float, float]]:
    """{step: (start offset from task start, duration)} of a finished task."""
    offsets = {}
    for name, times in (task.steps or {}).items():
        started = _parse_time(times.get("started"))
        finished = _parse_time(times.get("finished"))
        if started is None or finished is None or task.started_at is None:
            continue
        offsets[name] = (_span(task.started_at, started), _span(started, finished))
    return offsets


def estimate_progress(task: Task, previous: Task | None,
                      now: datetime | None = None) -> Progress:
    """Estimate how far ``task`` (a running build) is, from ``previous`` (the
    project's last succeeded build): the current step starts where it started
    last time and may take as long as it took last time."""
    now = now or utcnow()
    if task.started_at is None:
        return Progress(percent=0.0 if previous is not None else None, step="queued",
                        elapsed=0.0, remaining=None)
    elapsed = _span(task.started_at, now)
    current: str | None = None
    current_started: datetime | None = None
    for name, times in (task.steps or {}).items():
        started = _parse_time(times.get("started"))
        if started is not None and not times.get("finished"):
            if current_started is None or started > current_started:
                current, current_started = name, started
    total = _seconds(previous.started_at, previous.finished_at) if previous is not None else None
    if not total or previous is None:
        return Progress(percent=None, step=current, elapsed=elapsed, remaining=None)
    offsets = _step_offsets(previous)
    if current in offsets and current_started is not None:  # (set together with current)
        base, step_max = offsets[current]
        anchor = current_started
    else:
        base, step_max, anchor = 0.0, total, task.started_at
    done = base + min(_span(anchor, now), step_max)
    percent = min(max(done / total * 100.0, 1.0), 99.0)
    return Progress(percent=round(percent, 1), step=current, elapsed=elapsed,
                    remaining=max(total - done, 0.0), base=base,
                    step_started=anchor.timestamp(), step_max=step_max, total=total)


def previous_builds(session: Session, project_ids: Sequence[int]) -> dict[int, Task]:
    """{project_id: the latest succeeded build task} for the given projects."""
    if not project_ids:
        return {}
    rows = session.scalars(
        select(Task).where(Task.project_id.in_(project_ids), Task.kind == TaskKind.BUILD,
                           Task.status == TaskStatus.SUCCEEDED,
                           Task.started_at.is_not(None), Task.finished_at.is_not(None))
        .order_by(Task.project_id, Task.finished_at.desc())
        .ext(distinct_on(Task.project_id)))
    return {task.project_id: task for task in rows}


def _hint(release: ReleaseRequest, release_facts: ReleaseFacts) -> str | None:
    if release.deleted_at is not None:
        return "deleted"
    if release_facts.status in ACTIVATABLE and not release_facts.destroyed:
        if release_facts.not_ready_on:
            return "not ready on %s" % ", ".join(release_facts.not_ready_on)
    return None


def _current_build(release: ReleaseRequest) -> Task | None:
    running = [t for t in release.tasks if t.kind == TaskKind.BUILD and t.finished_at is None]
    return running[-1] if running else None


def build_rows(session: Session, releases: Sequence[ReleaseRequest], user: User | None,
               now: datetime | None = None) -> list[Row]:
    """Board rows for ``releases`` (loaded with ``_options``), as ``user`` sees them."""
    now = now or utcnow()
    situations = facts.situations(session, releases, user, now)
    building = [r for r in releases if S(r.status) in IN_PROGRESS and _current_build(r)]
    previous = previous_builds(session, sorted({r.project_id for r in building}))
    rows = []
    for release in releases:
        situation = situations[release.project_id]
        release_facts = facts.release_facts(release)
        target = situation.project.revert_target if release.status == S.USED else None
        tasks = [TaskLine(t, step_timings(t, now), task_seconds(t, now)) for t in release.tasks]
        row = Row(release=release, live=release.status == S.USED,
                  actions=policy.evaluate(release_facts, situation),
                  tasks=tasks, revert_to=target.version if target is not None else None,
                  hint=_hint(release, release_facts),
                  pending_pre=policy.pending_pre(release_facts, situation),
                  pending_post=tuple(m.name for m in situation.project.unapplied_post
                                     if m.release_version == release.version),
                  post_ready_at=(release.activated_at + timedelta(
                      days=release.project.post_migration_delay_days)
                      if release.activated_at is not None else None),
                  floor=situation.project.floor)
        current = _current_build(release)
        if current is not None and S(release.status) in IN_PROGRESS:
            row.progress = estimate_progress(current, previous.get(release.project_id), now)
        rows.append(row)
    return rows


def with_row_data(query: Select[ReleaseRequest]) -> Select[ReleaseRequest]:
    """Eager-load what a board row (or an API release) reads: no query per row."""
    return query.options(
        joinedload(ReleaseRequest.project).selectinload(Project.servers),
        joinedload(ReleaseRequest.project).selectinload(Project.scripts),
        joinedload(ReleaseRequest.user),
        # a task's command is read only for the busy lanes, loaded whole by their own query
        selectinload(ReleaseRequest.tasks).defer(Task.command),
        selectinload(ReleaseRequest.targets),
        # a child release's row names its parent ("part of <project> <version>")
        selectinload(ReleaseRequest.parent).joinedload(ReleaseRequest.project))


def load_release(session: Session, release_id: int) -> ReleaseRequest:
    """One release with what its row (or API body) reads. :raise NotFound: no such id."""
    release = session.scalars(with_row_data(select(ReleaseRequest).where(
        ReleaseRequest.id == release_id))).unique().one_or_none()
    if release is None:
        raise NotFound("no release with id %s" % release_id)
    return release


def _filtered(query: Select[ReleaseRequest], project: str | None = None,
              status: str | None = None,
              release_id: int | None = None) -> Select[ReleaseRequest]:
    if project:
        query = query.join(Project, Project.id == ReleaseRequest.project_id).where(
            Project.name == project)
    if status == "deleted":
        query = query.where(ReleaseRequest.deleted_at.is_not(None))
    elif status:
        query = query.where(ReleaseRequest.status == status)
    if release_id is not None:
        query = query.where(ReleaseRequest.id == release_id)
    return query


def _page_of(session: Session, query: Select[ReleaseRequest], before: int | None,
             after: int | None,
             page_size: int) -> tuple[list[ReleaseRequest], int | None, int | None]:
    """``(releases newest first, older cursor, newer cursor)`` of one keyset page."""
    key = ReleaseRequest.id
    ordered = keyset.page_query(query, key, before, after)
    rows = list(session.scalars(with_row_data(ordered).limit(page_size)).unique())
    if after is not None:
        rows.reverse()
    if not rows:
        return [], None, None
    older, newer = keyset.cursors(session, query.with_only_columns(key), key,
                                  rows[0].id, rows[-1].id)
    return rows, older, newer


def board_page(session: Session, user: User | None, project: str | None = None,
               status: str | None = None, before: int | None = None,
               after: int | None = None, page_size: int | str = PAGE_SIZE,
               now: datetime | None = None) -> BoardPage:
    """One page of the board, newest first, filtered by project name and status.

    ``before``/``after`` are release ids (keyset cursors): every page costs one
    index range scan, however deep.
    """
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    query = _filtered(select(ReleaseRequest), project, status)
    total, capped = keyset.count_capped(session, query.with_only_columns(ReleaseRequest.id),
                                        COUNT_CAP)
    releases, older, newer = _page_of(session, query, before, after, page_size)
    switch = deployment_switch(session)
    return BoardPage(rows=build_rows(session, releases, user, now), total=total,
                     capped=capped, page_size=page_size, first=newer is None, older=older,
                     newer=newer,
                     deployment_enabled=switch is None or switch.enabled,
                     deployment_reason=switch.reason if switch is not None else None,
                     filters={"project": project or "", "status": status or ""})


def board_row(session: Session, release_id: int, user: User | None,
              now: datetime | None = None) -> Row | None:
    """The board row of one release, or None if it no longer exists."""
    try:
        release = load_release(session, release_id)
    except NotFound:
        return None
    return build_rows(session, [release], user, now)[0]


def matches(release: ReleaseRequest, project: str | None = None,
            status: str | None = None) -> bool:
    """Whether a release belongs on a board filtered by ``project`` and ``status``."""
    if project and release.project.name != project:
        return False
    if status == "deleted":
        return release.deleted_at is not None
    return not status or release.status == status


#: "Your projects" counts at most this many of the user's latest releases (an index range).
RECENT_RELEASES = 1000


def most_used_projects(session: Session, user: User | None, limit: int = 5, days: int = 90,
                       now: datetime | None = None) -> list[str]:
    """The names of the projects ``user`` released most in the last ``days`` days (among
    their latest ``RECENT_RELEASES`` releases: the same cost on any table size)."""
    if user is None:
        return []
    since = (now or utcnow()) - timedelta(days=days)
    recent = (select(ReleaseRequest.project_id)
              .where(ReleaseRequest.user_id == user.id, ReleaseRequest.created_at >= since)
              .order_by(ReleaseRequest.id.desc()).limit(RECENT_RELEASES).subquery())
    count = func.count()
    rows = session.execute(
        select(Project.name, count).join(recent, recent.c.project_id == Project.id)
        .group_by(Project.name).order_by(count.desc(), Project.name).limit(limit))
    return [name for name, _ in rows]


def project_names(session: Session) -> list[str]:
    return list(session.scalars(select(Project.name).order_by(Project.name)))
