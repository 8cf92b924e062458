"""Release requests (a version of a project) and their state on each server."""
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_core.lifecycle import ReleaseStatus, TargetState
from rds_db.models.base import Base, Timestamps, str_enum

if TYPE_CHECKING:
    from rds_db.models.projects import Project, Server
    from rds_db.models.tasks import Task
    from rds_db.models.users import User

_STATUSES = ", ".join("'%s'" % s.value for s in ReleaseStatus)


class ReleaseRequest(Timestamps, Base):
    __tablename__ = "release_requests"
    __table_args__ = (
        UniqueConstraint("project_id", "version"),
        CheckConstraint("status IN (%s)" % _STATUSES, name="status"),
        Index("ix_release_requests_project_version_key", "project_id", "version_key"),
        Index("ix_release_requests_created_at", "created_at"),
        # keyset pages of the board (newest first by id), filtered by project or status
        Index("ix_release_requests_project_id_id", "project_id", "id"),
        Index("ix_release_requests_status_id", "status", "id"),
        # a user's latest releases (the board's "your projects")
        Index("ix_release_requests_user_id_id", "user_id", "id"),
        Index("ix_release_requests_deleted_id", "id",
              postgresql_where=text("deleted_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    version: Mapped[str] = mapped_column(String(64))
    #: The version as integers, so ORDER BY and comparisons are numeric.
    version_key: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    release_line: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReleaseStatus] = mapped_column(str_enum(ReleaseStatus),
                                                  default=ReleaseStatus.NEW, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str] = mapped_column(Text, default="")
    ref: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(40))
    #: The release this one was created together with (parent/child projects).
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="SET NULL"))
    #: The version that was live when this one was last activated: "Revert" target.
    previous_version: Mapped[str | None] = mapped_column(String(64))
    #: Status to return to when an activation fails (installed or old).
    status_before_use: Mapped[ReleaseStatus | None] = mapped_column(str_enum(ReleaseStatus))
    build_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    config_revision: Mapped[int | None] = mapped_column(Integer)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    migration_status: Mapped[str] = mapped_column(String(16), default="none")
    cron_config: Mapped[str | None] = mapped_column(Text)
    build_started_at: Mapped[datetime | None]
    built_at: Mapped[datetime | None]
    installed_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]

    project: Mapped["Project"] = relationship()
    user: Mapped["User | None"] = relationship()
    parent: Mapped["ReleaseRequest | None"] = relationship(remote_side=[id])
    targets: Mapped[list["ReleaseTarget"]] = relationship(
        back_populates="release", cascade="all, delete-orphan")
    tasks: Mapped[list["Task"]] = relationship(
        back_populates="release", order_by="Task.created_at")


class ReleaseTarget(Base):
    """The state of one release on one server: uploading, ready, failed, removed."""

    __tablename__ = "release_targets"

    release_id: Mapped[int] = mapped_column(
        ForeignKey("release_requests.id", ondelete="CASCADE"), primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"),
                                           primary_key=True)
    state: Mapped[TargetState] = mapped_column(str_enum(TargetState))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]

    release: Mapped[ReleaseRequest] = relationship(back_populates="targets")
    server: Mapped["Server"] = relationship()
