"""Reading build logs in bounded pieces.

A release's stored log is capped by ingest (``RELEASE_LOG_LIMIT``, 20 MiB by
default), but even that is too much to render or return per request: pages and
API answers show the **tail** (the last ``max_bytes``), say how much came
before, and point to the full download, which is streamed chunk by chunk.
"""
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rds_db.models import TaskLog

#: What the build page renders and the API returns per task, at most.
PAGE_BYTES = 512 * 1024
API_BYTES = 1024 * 1024


def tail_chunks(session: Session, task_id: str,
                max_bytes: int) -> tuple[int, list[tuple[int, str]]]:
    """``(bytes left out, [(chunk id, text), …])``: the last chunks of a task's log,
    in arrival order, together at most ``max_bytes`` (the first one may be cut)."""
    size = func.octet_length(TaskLog.text)
    ranked = select(TaskLog.id, TaskLog.text, size.label("size"),
                    func.sum(size).over(order_by=TaskLog.id.desc()).label("to_end")) \
        .where(TaskLog.task_id == task_id).subquery()
    rows = session.execute(select(ranked.c.id, ranked.c.text, ranked.c.size, ranked.c.to_end)
                           .where(ranked.c.to_end - ranked.c.size < max_bytes)
                           .order_by(ranked.c.id)).all()
    total = session.execute(select(func.coalesce(func.sum(size), 0))
                            .where(TaskLog.task_id == task_id)).scalar_one()
    chunks = [(row.id, row.text) for row in rows]
    if rows and rows[0].to_end > max_bytes:  # keep only the end of the first chunk
        keep = max_bytes - (rows[0].to_end - rows[0].size)
        chunks[0] = (rows[0].id, rows[0].text.encode()[-keep:].decode(errors="ignore")
                     if keep > 0 else "")
    shown = sum(len(text.encode()) for _, text in chunks)
    return total - shown, chunks


def omitted_note(omitted: int, where: str) -> str:
    return "[rds: %d earlier bytes of this log are not shown; the whole log: %s]\n" % (
        omitted, where)


def stream(session: Session, task_id: str, batch: int = 200) -> Iterator[str]:
    """Every chunk of a task's log in arrival order, fetched ``batch`` at a time."""
    after = 0
    while True:
        rows = session.execute(select(TaskLog.id, TaskLog.text).where(
            TaskLog.task_id == task_id, TaskLog.id > after).order_by(TaskLog.id)
            .limit(batch)).all()
        if not rows:
            return
        for _, text in rows:
            yield text
        after = rows[-1][0]
