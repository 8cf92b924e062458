"""Writing the audit log (one place, so every entry has the same shape)."""
from rds_control import notices
from rds_control.changes import record_change
from rds_db.models import AuditEntry

SYSTEM = "system"


def actor_name(user):
    return user.username if user is not None else SYSTEM


def record(session, action, message, user=None, actor=None, project=None, release=None,
           **details):
    entry = AuditEntry(
        action=action, message=message,
        user_id=user.id if user is not None else None,
        actor=actor or actor_name(user),
        project_id=project.id if project is not None else (
            release.project_id if release is not None else None),
        release_id=release.id if release is not None else None,
        details=details)
    session.add(entry)
    notices.from_audit(session, entry)  # queued with the change, sent by the pruner
    record_change(session, "audit", project_id=entry.project_id, release_id=entry.release_id)
    return entry
