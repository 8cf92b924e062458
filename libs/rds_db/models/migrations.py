"""Database migrations of deployed projects (pre/post), not rds's own schema."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rds_db.models.base import Base, Timestamps

MIGRATION_STATES = ("pending", "applying", "applied", "failed", "rolling_back",
                    "rollback_failed", "deleted")


class Migration(Timestamps, Base):
    __tablename__ = "migrations"
    __table_args__ = (
        UniqueConstraint("project_id", "type", "name"),
        CheckConstraint("type IN ('pre', 'post')", name="type"),
        CheckConstraint("state IN (%s)" % ", ".join("'%s'" % s for s in MIGRATION_STATES),
                        name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(4))
    #: The release the migration first appeared in.
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    applied_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
