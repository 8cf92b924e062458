"""The change feed: one row per state change, for live UI updates.

Every control-plane change appends a row and sends ``NOTIFY rds_changes``
(delivered at commit). A browser stream resumes from the last id it saw, so
a page opened mid-build, or a stream that reconnects, misses nothing.

The notification's payload is ``<newest id>:<kind>[,<kind>...]`` (for example
``"1234:release"``, or ``"1240:log,task"`` for a batch), so a listener can tell
what kind of change happened without reading the table: a board ignores agent
heartbeats and log lines. A payload of only an id means "any kind". Kinds are
short words, so a payload stays far below PostgreSQL's 8000-byte limit.
"""
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rds_db.models.base import Base, utcnow

NOTIFY_CHANNEL = "rds_changes"


class Change(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: What changed: release, task, log, agent, project, switch, audit, migration.
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"))
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(32))


def notify_payload(newest_id: int, kinds: Iterable[str]) -> str:
    """The NOTIFY payload for changes up to ``newest_id`` of these kinds."""
    return "%d:%s" % (newest_id, ",".join(sorted(set(kinds))))


def parse_notify_payload(payload: str) -> tuple[int, frozenset[str] | None] | None:
    """``(newest id, kinds)`` of a payload (kinds None: any kind); None if it is not one."""
    head, colon, tail = payload.partition(":")
    if not head.isdigit():
        return None
    kinds = frozenset(k for k in tail.split(",") if k) if colon else None
    return int(head), kinds or None
