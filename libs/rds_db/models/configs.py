"""Local config files of a project (e.g. ``.env``) with their full history."""
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_db.models.base import Base, Timestamps, utcnow

if TYPE_CHECKING:
    from rds_db.models.users import User


class ConfigFile(Timestamps, Base):
    __tablename__ = "config_files"
    __table_args__ = (UniqueConstraint("project_id", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(128))
    content: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None]
    #: What the last check read on each server:
    #: {"user@host:port": {"sha256": str|None, "revision": int|None, "error": str|None}}.
    server_state: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSONB)
    server_checked_at: Mapped[datetime | None]


class ConfigFileVersion(Base):
    """One saved version of a config file, who saved it, and its upload log."""

    __tablename__ = "config_file_versions"
    __table_args__ = (UniqueConstraint("config_file_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    config_file_id: Mapped[int] = mapped_column(
        ForeignKey("config_files.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    #: The project's config revision this version belongs to.
    project_revision: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    upload_log: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: This version deleted the file (its content is empty).
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    #: The push task that put this revision on the servers (its log is the upload log).
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    #: pending, pushed, failed or skipped (see ``rds_control.configs.UploadState``).
    upload_state: Mapped[str | None] = mapped_column(String(16))
    #: Per server: [{"server": "user@host:port", "ok": bool, "error": str|None}].
    upload_results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)

    file: Mapped[ConfigFile] = relationship()
    user: Mapped["User | None"] = relationship()
