"""What stops deploys: release bans per project and line, the global switch."""
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_db.models.base import Base, Timestamps

if TYPE_CHECKING:
    from rds_db.models.projects import Project
    from rds_db.models.users import User


class ReleaseBan(Timestamps, Base):
    """Blocks new releases of a project on a release line (never a rollback)."""

    __tablename__ = "release_bans"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    release_line: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None]
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    project: Mapped["Project"] = relationship()
    author: Mapped["User | None"] = relationship(foreign_keys=[user_id])
    lifted_by: Mapped["User | None"] = relationship(foreign_keys=[lifted_by_id])


class DeploymentSwitch(Base):
    """The single global switch that stops every deploy (with a reason)."""

    __tablename__ = "deployment_switch"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime | None]

    user: Mapped["User | None"] = relationship()
