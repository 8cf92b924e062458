"""Append to the change feed (see ``rds_db.models.changes``)."""
from sqlalchemy import func, select, text

from rds_db.models import Change
from rds_db.models.changes import NOTIFY_CHANNEL


def record_change(session, kind, project_id=None, release_id=None, task_id=None):
    change = Change(kind=kind, project_id=project_id, release_id=release_id, task_id=task_id)
    session.add(change)
    session.flush()
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": str(change.id)})
    return change


def release_changed(session, release, task_id=None):
    return record_change(session, "release", project_id=release.project_id,
                         release_id=release.id, task_id=task_id)


def last_change_id(session):
    return session.scalar(select(func.coalesce(func.max(Change.id), 0)))
