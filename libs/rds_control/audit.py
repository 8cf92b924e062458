"""The audit log: writing entries (one place, so every entry has the same shape)
and reading them back (filtered pages of who did what, newest first)."""
import math
from dataclasses import dataclass
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from rds_control import notices
from rds_control.changes import record_change
from rds_db.models import AuditEntry, Project, ReleaseRequest, User

Ts = TypeVarTuple("Ts")

SYSTEM = "system"
PAGE_SIZE = 50


def actor_name(user: User | None) -> str:
    return user.username if user is not None else SYSTEM


def record(session: Session, action: str, message: str, user: User | None = None,
           actor: str | None = None, project: Project | None = None,
           release: ReleaseRequest | None = None, **details: object) -> AuditEntry:
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


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class AuditFilters:
    """What an audit page is narrowed to (None: no filter)."""

    actor: str | None = None
    action: str | None = None
    project: str | None = None
    text: str | None = None
    release_id: int | None = None

    def apply(self, query: Select[*Ts]) -> Select[*Ts]:
        if self.actor:
            query = query.where(AuditEntry.actor.ilike(_like(self.actor), escape="\\"))
        if self.action:
            # "release" matches every release.* action; "release.created" only itself
            query = query.where((AuditEntry.action == self.action)
                                | AuditEntry.action.like(self.action.replace("%", "") + ".%"))
        if self.project:
            query = query.where(AuditEntry.project_id == select(Project.id).where(
                Project.name == self.project).scalar_subquery())
        if self.text:
            query = query.where(AuditEntry.message.ilike(_like(self.text), escape="\\"))
        if self.release_id is not None:
            query = query.where(AuditEntry.release_id == self.release_id)
        return query


def audit_page(session: Session, actor: str | None = None, action: str | None = None,
               project: str | None = None, text: str | None = None,
               release_id: int | None = None, page: int = 1,
               page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of audit entries matching every filter given."""
    filters = AuditFilters(actor=actor, action=action, project=project, text=text,
                           release_id=release_id)
    total = session.scalar(filters.apply(select(func.count(AuditEntry.id)))) or 0
    pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), pages)
    release = aliased(ReleaseRequest)
    query = (select(AuditEntry, Project.name, release.version)
             .outerjoin(Project, Project.id == AuditEntry.project_id)
             .outerjoin(release, release.id == AuditEntry.release_id))
    query = filters.apply(query).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    rows = session.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
    return AuditPage([AuditRow(entry, name, version) for entry, name, version in rows],
                     total, page, pages)


def audit_actions(session: Session) -> list[str]:
    """Every action name used so far, plus their families (``release``, ``user``...)."""
    names = set(session.scalars(select(AuditEntry.action).distinct()))
    families = {name.split(".", 1)[0] for name in names if "." in name}
    return sorted(names | families)
