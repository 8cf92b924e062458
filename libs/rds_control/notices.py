"""Turn what happened (audit entries) into notifications for subscribed channels.

``rds_control.audit.record`` calls :func:`from_audit` for every entry, in
the transaction of the change itself, so a notification is queued exactly
when its change commits, and never when it rolls back. Only the actions in
:data:`AUDIT_EVENTS` notify; each becomes one ``notification_outbox`` row
per channel of the project subscribed to that event (the deployment switch:
every channel subscribed to it, whatever its project). Nothing here talks
to the outside: the pruner delivers the rows (``rds_control.delivery``), so
a slow or broken channel never holds up a deploy.
"""
from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_core.notices import NoticeEvent
from rds_core.versions import version_key
from rds_db.models import AuditEntry, NotificationChannel, NotificationMessage, ReleaseRequest
from rds_db.models.base import utcnow

E = NoticeEvent

#: Audit actions that notify, and the event each one is.
AUDIT_EVENTS: dict[str, NoticeEvent] = {
    "release.failed": E.BUILD_FAILED,
    "release.installed": E.INSTALLED,
    "release.activated": E.ACTIVATED,  # or ROLLED_BACK, see _event
    "release.activation_failed": E.ACTIVATION_FAILED,
    "migration.failed": E.MIGRATION_FAILED,
    "ban.set": E.BAN_SET,
    "ban.lifted": E.BAN_LIFTED,
    "switch.off": E.DEPLOYMENT_SWITCH,
    "switch.on": E.DEPLOYMENT_SWITCH,
}


def _event(entry: AuditEntry, release: ReleaseRequest | None) -> NoticeEvent:
    event = AUDIT_EVENTS[entry.action]
    if (event == E.ACTIVATED and release is not None and release.previous_version
            and version_key(release.version) < version_key(release.previous_version)):
        return E.ROLLED_BACK
    return event


def _channels(session: Session, event: NoticeEvent,
              project_id: int | None) -> list[NotificationChannel]:
    query = select(NotificationChannel).where(
        NotificationChannel.events.contains([str(event)])).order_by(NotificationChannel.id)
    if event != E.DEPLOYMENT_SWITCH:
        if project_id is None:
            return []
        query = query.where(NotificationChannel.project_id == project_id)
    return list(session.scalars(query))


def from_audit(session: Session, entry: AuditEntry) -> list[NotificationMessage]:
    """Queue the notifications an audit entry causes (none for most actions)."""
    if entry.action not in AUDIT_EVENTS:
        return []
    release = (session.get(ReleaseRequest, entry.release_id)
               if entry.release_id is not None else None)
    event = _event(entry, release)
    channels = _channels(session, event, entry.project_id)
    messages = []
    for channel in channels:
        body = {"event": str(event), "message": entry.message, "actor": entry.actor,
                "at": (entry.at or utcnow()).isoformat(),
                "project": channel.project.name if event == E.DEPLOYMENT_SWITCH
                else (release.project.name if release is not None else channel.project.name),
                "release_id": release.id if release is not None else None,
                "version": release.version if release is not None else None}
        message = NotificationMessage(channel_id=channel.id, event=str(event), body=body)
        session.add(message)
        messages.append(message)
    return messages
