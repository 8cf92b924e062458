"""The release board, read side: one page of releases and what each row needs.

Everything the board shows about a release is computed here, from the rows
in the database, with a fixed number of queries per page (no query per row):
who created it, its tasks (per-build lines) with their step timings, the
progress of a running build (estimated from the project's previous
successful build, as RDS did), whether it is live, and which actions the
current state allows. The web layer only adds the user's role on top.
"""
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import joinedload, selectinload

from rds_control.releases import deployment_switch
from rds_core.lifecycle import (
    ACTIVATABLE,
    IN_PROGRESS,
    REBUILDABLE,
    ReleaseStatus,
    TaskStatus,
)
from rds_db.models import Project, ReleaseRequest, Task
from rds_db.models.base import utcnow

S = ReleaseStatus
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200

#: Every action a board row can offer (each needs the ``deploy`` permission).
ACTIONS = ("activate", "revert", "rebuild", "cancel", "delete")
#: Statuses in which a release cannot be deleted.
UNDELETABLE = IN_PROGRESS | {S.USING, S.USED, S.CANCELLING}


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
    actions: set[str]
    tasks: list[TaskLine]
    progress: Progress | None = None
    revert_to: str | None = None
    hint: str | None = None


@dataclass
class BoardPage:
    rows: list[Row]
    total: int
    page: int
    pages: int
    page_size: int
    deployment_enabled: bool = True
    deployment_reason: str | None = None
    filters: dict = field(default_factory=dict)


def _parse_time(value):
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _seconds(start, end):
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def step_timings(task, now=None):
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


def task_seconds(task, now=None):
    """How long the task ran (so far, while it runs); None before it started."""
    if task.started_at is None:
        return None
    return _seconds(task.started_at, task.finished_at or now or utcnow())


def _step_offsets(task):
    """{step: (start offset from task start, duration)} of a finished task."""
    offsets = {}
    for name, times in (task.steps or {}).items():
        started = _parse_time(times.get("started"))
        finished = _parse_time(times.get("finished"))
        if started is None or finished is None or task.started_at is None:
            continue
        offsets[name] = (_seconds(task.started_at, started), _seconds(started, finished))
    return offsets


def estimate_progress(task, previous, now=None):
    """Estimate how far ``task`` (a running build) is, from ``previous`` (the
    project's last succeeded build): the current step starts where it started
    last time and may take as long as it took last time."""
    now = now or utcnow()
    if task.started_at is None:
        return Progress(percent=0.0 if previous is not None else None, step="queued",
                        elapsed=0.0, remaining=None)
    elapsed = _seconds(task.started_at, now)
    current, current_started = None, None
    for name, times in (task.steps or {}).items():
        started = _parse_time(times.get("started"))
        if started is not None and not times.get("finished"):
            if current_started is None or started > current_started:
                current, current_started = name, started
    total = _seconds(previous.started_at, previous.finished_at) if previous is not None else None
    if not total:
        return Progress(percent=None, step=current, elapsed=elapsed, remaining=None)
    offsets = _step_offsets(previous)
    if current in offsets:
        base, step_max = offsets[current]
        anchor = current_started
    else:
        base, step_max, anchor = 0.0, total, task.started_at
    done = base + min(_seconds(anchor, now), step_max)
    percent = min(max(done / total * 100.0, 1.0), 99.0)
    return Progress(percent=round(percent, 1), step=current, elapsed=elapsed,
                    remaining=max(total - done, 0.0), base=base,
                    step_started=anchor.timestamp(), step_max=step_max, total=total)


def previous_builds(session, project_ids):
    """{project_id: the latest succeeded build task} for the given projects."""
    if not project_ids:
        return {}
    rows = session.scalars(
        select(Task).where(Task.project_id.in_(project_ids), Task.kind == "build",
                           Task.status == TaskStatus.SUCCEEDED.value,
                           Task.started_at.is_not(None), Task.finished_at.is_not(None))
        .order_by(Task.project_id, Task.finished_at.desc())
        .ext(distinct_on(Task.project_id)))
    return {task.project_id: task for task in rows}


def _latest_ids(session, project_ids):
    """{project_id: id of its latest non-deleted release} (the only one rebuildable).

    One index scan per project (few: only projects with a rebuild candidate).
    """
    latest = {}
    for project_id in project_ids:
        latest[project_id] = session.scalar(
            select(ReleaseRequest.id).where(ReleaseRequest.project_id == project_id,
                                            ReleaseRequest.deleted_at.is_(None))
            .order_by(ReleaseRequest.version_key.desc()).limit(1))
    return latest


def _busy_lanes(session, project_ids):
    """{(project_id, lane)} with an unfinished task (the per-project deploy lock)."""
    if not project_ids:
        return set()
    rows = session.execute(select(Task.project_id, Task.lane).where(
        Task.project_id.in_(project_ids), Task.lane.is_not(None), Task.finished_at.is_(None)))
    return set(rows.all())


def _revert_targets(session, live_rows):
    """{live release id: the previous release it would revert to, if activatable}."""
    wanted = [(r.project_id, r.previous_version) for r in live_rows if r.previous_version]
    if not wanted:
        return {}
    rows = session.scalars(select(ReleaseRequest).where(or_(*[
        (ReleaseRequest.project_id == project_id) & (ReleaseRequest.version == version)
        for project_id, version in wanted])))
    by_key = {(r.project_id, r.version): r for r in rows}
    targets = {}
    for live in live_rows:
        previous = by_key.get((live.project_id, live.previous_version))
        if previous is not None and _activatable(previous):
            targets[live.id] = previous
    return targets


def _live_releases(session, project_ids, exclude=()):
    """The live release of each project (those not already at hand)."""
    if not project_ids:
        return []
    return list(session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id.in_(project_ids), ReleaseRequest.status == S.USED.value,
        ReleaseRequest.id.not_in(list(exclude) or [0]))))


def _activatable(release):
    return (S(release.status) in ACTIVATABLE and release.deleted_at is None
            and release.destroyed_at is None)


def _not_ready(release):
    """Servers of the project on which the release is not ready (upload incomplete)."""
    ready = {t.server_id for t in release.targets if t.state == "ready"}
    return [s.label for s in release.project.servers if s.id not in ready]


def allowed_actions(release, latest_id, busy, switch_on=True, revert_target=None,
                    is_previous=False):
    """What the release's state allows now (the same rules the control plane enforces).

    ``busy`` is the set of ``(project_id, lane)`` with a running task;
    ``is_previous`` says the release is the live one's revert target (with
    deployment switched off, only that rollback stays allowed).
    """
    status = S(release.status)
    deleted = release.deleted_at is not None
    actions = set()
    activate_free = (release.project_id, "activate") not in busy
    if (_activatable(release) and activate_free and not _not_ready(release)
            and (switch_on or is_previous)):
        actions.add("activate")
    if status == S.USED and revert_target is not None and activate_free:
        actions.add("revert")
    if (not deleted and status in REBUILDABLE and release.activated_at is None
            and release.id == latest_id and (release.project_id, "build") not in busy
            and switch_on):
        actions.add("rebuild")
    if status in IN_PROGRESS and any(t.kind == "build" and t.finished_at is None
                                     for t in release.tasks):
        actions.add("cancel")
    if not deleted and status not in UNDELETABLE:
        actions.add("delete")
    return actions


def _hint(release):
    if release.deleted_at is not None:
        return "deleted"
    if S(release.status) in ACTIVATABLE and release.destroyed_at is None:
        missing = _not_ready(release)
        if missing:
            return "not ready on %s" % ", ".join(missing)
    return None


def _current_build(release):
    running = [t for t in release.tasks if t.kind == "build" and t.finished_at is None]
    return running[-1] if running else None


def build_rows(session, releases, now=None):
    """Board rows for ``releases`` (loaded with the options of ``_options``)."""
    now = now or utcnow()
    project_ids = sorted({r.project_id for r in releases})
    latest = _latest_ids(session, sorted({
        r.project_id for r in releases if S(r.status) in REBUILDABLE
        and r.activated_at is None and r.deleted_at is None}))
    busy = _busy_lanes(session, project_ids)
    switch = deployment_switch(session)
    switch_on = switch is None or switch.enabled
    lives = [r for r in releases if r.status == S.USED.value]
    lives += _live_releases(session, project_ids, exclude={r.id for r in lives})
    reverts = _revert_targets(session, lives)
    previous_ids = {target.id for target in reverts.values()}
    building = [r for r in releases if S(r.status) in IN_PROGRESS and _current_build(r)]
    previous = previous_builds(session, sorted({r.project_id for r in building}))
    rows = []
    for release in releases:
        target = reverts.get(release.id)
        actions = allowed_actions(release, latest.get(release.project_id), busy,
                                  switch_on=switch_on, revert_target=target,
                                  is_previous=release.id in previous_ids)
        tasks = [TaskLine(t, step_timings(t, now), task_seconds(t, now)) for t in release.tasks]
        row = Row(release=release, live=release.status == S.USED.value, actions=actions,
                  tasks=tasks, revert_to=target.version if target is not None else None,
                  hint=_hint(release))
        current = _current_build(release)
        if current is not None and S(release.status) in IN_PROGRESS:
            row.progress = estimate_progress(current, previous.get(release.project_id), now)
        rows.append(row)
    return rows


def _options(query):
    return query.options(
        joinedload(ReleaseRequest.project).selectinload(Project.servers),
        joinedload(ReleaseRequest.user),
        selectinload(ReleaseRequest.tasks),
        selectinload(ReleaseRequest.targets))


def _filtered(query, project=None, status=None, release_id=None):
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


def board_page(session, project=None, status=None, page=1, page_size=PAGE_SIZE, now=None):
    """One page of the board, newest first, filtered by project name and status."""
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    total = session.scalar(_filtered(select(func.count(ReleaseRequest.id)), project, status))
    pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), pages)
    query = _filtered(select(ReleaseRequest), project, status).order_by(
        ReleaseRequest.created_at.desc(), ReleaseRequest.id.desc())
    releases = session.scalars(_options(query).limit(page_size)
                               .offset((page - 1) * page_size)).unique().all()
    switch = deployment_switch(session)
    return BoardPage(rows=build_rows(session, releases, now), total=total, page=page,
                     pages=pages, page_size=page_size,
                     deployment_enabled=switch is None or switch.enabled,
                     deployment_reason=switch.reason if switch is not None else None,
                     filters={"project": project or "", "status": status or ""})


def board_row(session, release_id, now=None):
    """The board row of one release, or None if it no longer exists."""
    release = session.scalars(_options(select(ReleaseRequest).where(
        ReleaseRequest.id == release_id))).unique().one_or_none()
    if release is None:
        return None
    return build_rows(session, [release], now)[0]


def matches(release, project=None, status=None):
    """Whether a release belongs on a board filtered by ``project`` and ``status``."""
    if project and release.project.name != project:
        return False
    if status == "deleted":
        return release.deleted_at is not None
    return not status or release.status == status


def most_used_projects(session, user, limit=5, days=90, now=None):
    """The names of the projects ``user`` released most in the last ``days`` days."""
    if user is None:
        return []
    since = (now or utcnow()) - timedelta(days=days)
    count = func.count(ReleaseRequest.id)
    rows = session.execute(
        select(Project.name, count).join(ReleaseRequest, ReleaseRequest.project_id == Project.id)
        .where(ReleaseRequest.user_id == user.id, ReleaseRequest.created_at >= since)
        .group_by(Project.name).order_by(count.desc(), Project.name).limit(limit))
    return [name for name, _ in rows]


def project_names(session):
    return list(session.scalars(select(Project.name).order_by(Project.name)))
