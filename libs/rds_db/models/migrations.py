"""Database migrations of deployed projects (pre/post), not rds's own schema.

One row per (project, type, name): the release it first appeared in, its
state (``rds_core.migrations.MigrationState``) and the last task that ran it
(whose log is the migration's log).
"""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_core.migrations import MigrationState, MigrationType
from rds_db.models.base import Base, Timestamps, str_enum
from rds_db.models.releases import ReleaseRequest
from rds_db.models.tasks import Task

#: Every state the CHECK constraint allows ("deleted" is kept for old rows).
MIGRATION_STATES = tuple(s.value for s in MigrationState) + ("deleted",)


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
    type: Mapped[MigrationType] = mapped_column(str_enum(MigrationType, length=4))
    #: The release the migration first appeared in.
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="SET NULL"))
    state: Mapped[MigrationState] = mapped_column(str_enum(MigrationState),
                                                  default=MigrationState.PENDING)
    applied_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The last task that ran it (up or down); its log is the migration's log.
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True)

    release: Mapped[ReleaseRequest | None] = relationship()
    task: Mapped[Task | None] = relationship()
