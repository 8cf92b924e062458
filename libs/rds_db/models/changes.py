"""The change feed: one row per state change, for live UI updates.

Every control-plane change appends a row and sends ``NOTIFY rds_changes``
(delivered at commit). A browser stream resumes from the last id it saw, so
a page opened mid-build, or a stream that reconnects, misses nothing.
"""
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rds_db.models.base import Base, utcnow

NOTIFY_CHANNEL = "rds_changes"


class Change(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: What changed: release, task, log, agent, project, ban, switch, audit.
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"))
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(32))
