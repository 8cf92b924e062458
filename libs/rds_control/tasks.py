"""Starting and ending tasks (the unit of agent work), and locking them.

**One lock order**: whoever changes a task and its release locks the release
first, then the task (``lock_tasks``; ``get_release(lock=True)`` callers such as
cancel then change the task). Two transactions that change one build thus
queue on its release row and never deadlock.
"""
import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rds_contracts import activator, builder, configs, gc, migrator
from rds_contracts.base import Command, ServerSpec
from rds_control import outbox
from rds_control.changes import record_change
from rds_control.errors import Conflict
from rds_core.lifecycle import LANE_BY_KIND, TASK_ACTIVE, Lane, TaskKind, TaskStatus
from rds_db.models import Project, ReleaseRequest, Task, User
from rds_db.models.base import utcnow

#: The command that starts each kind of task.
COMMAND_FOR_KIND: dict[TaskKind, str] = {TaskKind.BUILD: builder.BUILD,
                                         TaskKind.ACTIVATE: activator.ACTIVATE,
                                         TaskKind.REMOVE: gc.REMOVE_RELEASE,
                                         TaskKind.INSPECT: gc.INSPECT_SERVERS,
                                         TaskKind.MIGRATE: migrator.MIGRATE,
                                         TaskKind.CONFIG: configs.PUSH_CONFIG,
                                         TaskKind.CONFIG_CHECK: configs.INSPECT_CONFIG}

#: How the busy message names what a lane is doing.
LANE_VERBS: dict[Lane | None, str] = {Lane.BUILD: "building", Lane.ACTIVATE: "activating"}


def new_task_id() -> str:
    return uuid.uuid4().hex


def server_specs(project: Project) -> list[ServerSpec]:
    return [ServerSpec(id=s.id, host=s.host, port=s.port, user=s.user) for s in project.servers]


def lock_tasks(session: Session, task_ids: Collection[str],
               release_ids: Collection[int] | None = None) -> list[Task]:
    """Lock tasks to change them, in rds's one lock order: their releases, then the
    tasks, each by id (``release_ids``: the tasks' releases, when the caller knows them).

    ``FOR NO KEY UPDATE``: rows that only reference them (log chunks, change
    rows) can still be inserted meanwhile.
    """
    if not task_ids:
        return []
    if release_ids is None:
        release_ids = set(session.scalars(select(Task.release_id).where(
            Task.id.in_(task_ids), Task.release_id.is_not(None))))
    if release_ids:
        session.execute(select(ReleaseRequest.id).where(ReleaseRequest.id.in_(release_ids))
                        .order_by(ReleaseRequest.id).with_for_update(key_share=True))
    return list(session.scalars(select(Task).where(Task.id.in_(task_ids)).order_by(Task.id)
                                .with_for_update(key_share=True)
                                .execution_options(populate_existing=True)))


def active_task(session: Session, project_id: int, lane: Lane) -> Task | None:
    return session.scalars(
        select(Task).where(Task.project_id == project_id, Task.lane == lane,
                           Task.finished_at.is_(None))).first()


def start_task(session: Session, kind: TaskKind, project: Project, command: Command,
               release: ReleaseRequest | None = None, user: User | None = None) -> Task:
    """Record a task and queue its command; raise Conflict if the lane is busy.

    The caller holds the project row lock; the partial unique index on
    (project, lane) is the guard of last resort.
    """
    lane = LANE_BY_KIND[kind]
    if lane is not None:
        busy = active_task(session, project.id, lane)
        if busy is not None:
            raise Conflict(_busy_message(project, busy))
    task = Task(id=command.task_id, kind=kind, lane=lane, project_id=project.id,
                release=release, status=TaskStatus.QUEUED, pool=project.agent_pool,
                user_id=user.id if user is not None else None,
                command=command.to_wire(), steps={})
    session.add(task)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("project %s is busy with another %s" % (project.name, lane)) from None
    outbox.enqueue(session, command, project.agent_pool)
    record_change(session, "task", project_id=project.id,
                  release_id=task.release_id, task_id=task.id)
    return task


def finish_task(session: Session, task: Task, status: TaskStatus,
                error: str | None = None) -> None:
    task.status = status
    task.finished_at = utcnow()
    if error is not None:
        task.error = error
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def is_active(task: Task) -> bool:
    return TaskStatus(task.status) in TASK_ACTIVE


def _busy_message(project: Project, task: Task) -> str:
    what = LANE_VERBS.get(task.lane, str(task.lane))
    version = task.command.get("version", "?")
    return ("project %s is already %s version %s (task %s); wait for it to finish or "
            "cancel it" % (project.name, what, version, task.id))
