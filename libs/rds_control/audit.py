"""The audit log: writing entries (one place, so every entry has the same shape)
and reading them back (filtered pages of who did what, newest first)."""
from dataclasses import dataclass
from typing import TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, aliased

from rds_control import keyset, notices
from rds_control.changes import record_change
from rds_db.models import AuditEntry, Project, ReleaseRequest, User

Ts = TypeVarTuple("Ts")

SYSTEM = "system"
PAGE_SIZE = 50
#: Counts stop here ("10000+ entries"): an exact count of a huge log is a table scan.
COUNT_CAP = keyset.COUNT_CAP


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
    """One page of audit entries, newest first, keyset-paginated by entry id (entries
    get their id and ``at`` when written, so id order is time order): ``older`` is
    the ``before=`` cursor of the next page, ``newer`` the ``after=`` cursor of the
    previous one (None on the first page). ``total`` is exact up to ``COUNT_CAP``;
    above it, ``capped`` says "at least"."""

    rows: list[AuditRow]
    total: int
    capped: bool = False
    older: int | None = None
    newer: int | None = None


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
               release_id: int | None = None, before: int | None = None,
               after: int | None = None, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of audit entries matching every filter given, newest first.

    ``before``/``after`` are entry ids (keyset cursors): every page costs one index
    range scan, however deep, and the count stops at ``COUNT_CAP``.
    """
    filters = AuditFilters(actor=actor, action=action, project=project, text=text,
                           release_id=release_id)
    key = AuditEntry.id
    ids = filters.apply(select(key))
    total, capped = keyset.count_capped(session, ids, COUNT_CAP)
    release = aliased(ReleaseRequest)
    query = filters.apply(select(AuditEntry, Project.name, release.version)
                          .outerjoin(Project, Project.id == AuditEntry.project_id)
                          .outerjoin(release, release.id == AuditEntry.release_id))
    rows = [AuditRow(entry, name, version) for entry, name, version in session.execute(
        keyset.page_query(query, key, before, after).limit(page_size)).all()]
    if after is not None:
        rows.reverse()
    if not rows:
        return AuditPage([], total, capped)
    older, newer = keyset.cursors(session, ids, key, rows[0].entry.id, rows[-1].entry.id)
    return AuditPage(rows, total, capped, older, newer)


#: At most this many distinct action names are offered (a bound on the index walk).
MAX_ACTIONS = 500

#: Every distinct action by a loose index scan of ``ix_audit_log_action``: one index
#: probe per distinct name (``min(action) > previous``), never the whole table.
_DISTINCT_ACTIONS = sql_text("""
WITH RECURSIVE names(action) AS (
    (SELECT action FROM audit_log ORDER BY action LIMIT 1)
    UNION ALL
    SELECT (SELECT a.action FROM audit_log a WHERE a.action > names.action
            ORDER BY a.action LIMIT 1)
    FROM names WHERE names.action IS NOT NULL
)
SELECT action FROM names WHERE action IS NOT NULL LIMIT :limit
""")


def audit_actions(session: Session) -> list[str]:
    """Every action name used so far, plus their families (``release``, ``user``...)."""
    names = set(session.scalars(_DISTINCT_ACTIONS, {"limit": MAX_ACTIONS}))
    families = {name.split(".", 1)[0] for name in names if "." in name}
    return sorted(names | families)
