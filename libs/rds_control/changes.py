"""Append to the change feed (see ``rds_db.models.changes``).

Inside ``batched(session)`` (ingest applying a batch of agent events),
``record_change`` only notes the change: when the batch ends, one row per
kind, project, release and task is written, with one ``NOTIFY`` carrying the
newest id (what the listeners read from it).
"""
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from rds_db.models import Change
from rds_db.models.base import utcnow
from rds_db.models.changes import NOTIFY_CHANNEL

#: ``session.info`` key of the changes noted inside ``batched``.
BATCH_KEY = "rds_batched_changes"

ChangeKey = tuple[str, int | None, int | None, str | None]


def record_change(session: Session, kind: str, project_id: int | None = None,
                  release_id: int | None = None, task_id: str | None = None) -> Change | None:
    noted: dict[ChangeKey, None] | None = session.info.get(BATCH_KEY)
    if noted is not None:
        noted.setdefault((kind, project_id, release_id, task_id), None)
        return None
    change = Change(kind=kind, project_id=project_id, release_id=release_id, task_id=task_id)
    session.add(change)
    session.flush()
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": str(change.id)})
    return change


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Collect the changes recorded inside; write each once, with one NOTIFY, at the end
    (nothing is written if the block raises)."""
    noted: dict[ChangeKey, None] = {}
    session.info[BATCH_KEY] = noted
    try:
        yield
        del session.info[BATCH_KEY]
        _write(session, list(noted))
    finally:
        session.info.pop(BATCH_KEY, None)


def _write(session: Session, keys: list[ChangeKey]) -> None:
    if not keys:
        return
    at = utcnow()
    ids = session.connection().execute(_ADD, [
        {"kind": kind, "project_id": project_id, "release_id": release_id, "task_id": task_id,
         "at": at} for kind, project_id, release_id, task_id in keys]).scalars().all()
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": str(max(ids))})


_ADD = insert(Change).returning(Change.id)


def release_changed(session, release, task_id=None):
    return record_change(session, "release", project_id=release.project_id,
                         release_id=release.id, task_id=task_id)


def last_change_id(session):
    return session.scalar(select(func.coalesce(func.max(Change.id), 0)))
