"""The build page: one task's live log (ANSI colours), phase timings and error."""
from collections.abc import Sequence
from datetime import datetime

from flask import Blueprint, Response, render_template, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from markupsafe import escape
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from rds_control import board, logs
from rds_control.changes import last_change_id
from rds_control.errors import NotFound
from rds_db.models import Task, TaskLog
from rds_db.models.base import utcnow
from rds_web.db import get_session
from rds_web.ui.ansi import AnsiRenderer
from rds_web.ui.common import requires

bp = Blueprint("builds", __name__)

#: A phase of a task: name, seconds (None: not measured), still running.
Phase = tuple[str, float | None, bool]


def get_task(session: Session, task_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("no build with id %s" % task_id)
    return task


def log_chunks(session: Session, task_id: str,
               after: int = 0) -> Sequence[Row[int, str]]:
    """(id, text) of the task's log chunks after ``after``, in arrival order."""
    return session.execute(select(TaskLog.id, TaskLog.text).where(
        TaskLog.task_id == task_id, TaskLog.id > after).order_by(TaskLog.id)).all()


def phases(task: Task, now: datetime | None = None) -> list[Phase]:
    """(name, seconds, running) of every phase: the queue, each step, the total."""
    now = now or utcnow()
    rows: list[Phase] = []
    queued_until = task.started_at or task.finished_at
    if queued_until is not None:
        rows.append(("queued", (queued_until - task.created_at).total_seconds(), False))
    elif task.finished_at is None:
        rows.append(("queued", (now - task.created_at).total_seconds(), True))
    rows += [(s.name, s.seconds, s.running) for s in board.step_timings(task, now)]
    return rows


def header_context(session: Session, task: Task) -> dict[str, object]:
    now = utcnow()
    rows = phases(task, now)
    longest = max([seconds or 0 for _, seconds, _ in rows] + [0.001])
    progress = None
    if task.kind == "build" and task.finished_at is None:
        progress = board.estimate_progress(
            task, board.previous_builds(session, [task.project_id]).get(task.project_id), now)
    return {"task": task, "release": task.release, "phases": rows, "longest": longest,
            "total": board.task_seconds(task, now), "progress": progress}


@bp.get("/builds/<task_id>")
@requires("view")
def show(task_id: str) -> ResponseReturnValue:
    """Show a build (or activation) with its phases and its log, streamed live."""
    session = get_session()
    after = last_change_id(session)
    task = get_task(session, task_id)
    omitted, chunks = logs.tail_chunks(session, task.id, logs.PAGE_BYTES)
    renderer = AnsiRenderer()
    log_html = "".join(renderer.feed(text) for _, text in chunks)
    if omitted:
        log_html = str(escape(logs.omitted_note(omitted, url_for("builds.raw_log",
                                                                 task_id=task.id)))) + log_html
    log_after = chunks[-1][0] if chunks else 0
    return render_template("build.html", log_html=log_html, after=after, log_after=log_after,
                           **header_context(session, task))


@bp.get("/builds/<task_id>/log.txt")
@requires("view")
def raw_log(task_id: str) -> ResponseReturnValue:
    """Download the log as plain text (escape sequences kept), streamed chunk by chunk."""
    session = get_session()
    task = get_task(session, task_id)
    return Response(stream_with_context(logs.stream(session, task.id)),
                    mimetype="text/plain", headers={
        "Content-Disposition": 'inline; filename="%s.log"' % task.id})
