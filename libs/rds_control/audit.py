"""The audit log: writing entries (one place, so every entry has the same shape)
and reading them back (filtered pages of who did what, newest first)."""
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from rds_control import notices
from rds_control.changes import record_change
from rds_db.models import AuditEntry, Project, ReleaseRequest

SYSTEM = "system"
PAGE_SIZE = 50


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


@dataclass
class AuditRow:
    entry: AuditEntry
    project: str | None
    version: str | None


@dataclass
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int


def _like(text):
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered(query, actor=None, action=None, project=None, text=None, release_id=None):
    if actor:
        query = query.where(AuditEntry.actor.ilike(_like(actor), escape="\\"))
    if action:
        # "release" matches every release.* action; "release.created" only itself
        query = query.where((AuditEntry.action == action)
                            | AuditEntry.action.like(action.replace("%", "") + ".%"))
    if project:
        query = query.where(AuditEntry.project_id == select(Project.id).where(
            Project.name == project).scalar_subquery())
    if text:
        query = query.where(AuditEntry.message.ilike(_like(text), escape="\\"))
    if release_id is not None:
        query = query.where(AuditEntry.release_id == release_id)
    return query


def audit_page(session, actor=None, action=None, project=None, text=None, release_id=None,
               page=1, page_size=PAGE_SIZE):
    """One page of audit entries matching every filter given."""
    filters = dict(actor=actor, action=action, project=project, text=text,
                   release_id=release_id)
    total = session.scalar(_filtered(select(func.count(AuditEntry.id)), **filters))
    pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), pages)
    release = aliased(ReleaseRequest)
    query = (select(AuditEntry, Project.name, release.version)
             .outerjoin(Project, Project.id == AuditEntry.project_id)
             .outerjoin(release, release.id == AuditEntry.release_id))
    query = _filtered(query, **filters).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    rows = session.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
    return AuditPage([AuditRow(entry, name, version) for entry, name, version in rows],
                     total, page, pages)


def audit_actions(session):
    """Every action name used so far, plus their families (``release``, ``user``...)."""
    names = set(session.scalars(select(AuditEntry.action).distinct()))
    families = {name.split(".", 1)[0] for name in names if "." in name}
    return sorted(names | families)
