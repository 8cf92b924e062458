"""Projects, their servers, scripts, parent/child links and release lines."""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_db.models.base import Base, Timestamps


class Project(Timestamps, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    repository: Mapped[str] = mapped_column(String(2048))
    default_ref: Mapped[str] = mapped_column(String(255), default="main")
    deploy_path: Mapped[str] = mapped_column(String(1024))
    agent_pool: Mapped[str] = mapped_column(String(63), default="default")
    keep_releases: Mapped[int] = mapped_column(Integer, default=5)
    post_migration_delay_days: Mapped[int] = mapped_column(Integer, default=7)
    #: ``user@host:port`` of the server migrations run on (None: the first server).
    migration_server: Mapped[str | None] = mapped_column(String(300))
    upload_concurrency: Mapped[int] = mapped_column(Integer, default=8)
    upload_max_failures: Mapped[int] = mapped_column(Integer, default=0)
    shared_files: Mapped[list[str]] = mapped_column(JSONB, default=list)
    shared_dirs: Mapped[list[str]] = mapped_column(JSONB, default=list)
    notifications: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    #: Global build counter: the last part of every version (M).
    build_counter: Mapped[int] = mapped_column(Integer, default=0)
    #: Bumped on every change of the project's config files.
    config_revision: Mapped[int] = mapped_column(Integer, default=0)

    servers: Mapped[list["Server"]] = relationship(
        back_populates="project", cascade="all, delete-orphan",
        order_by="Server.position, Server.id")
    scripts: Mapped[list["ProjectScript"]] = relationship(
        back_populates="project", cascade="all, delete-orphan")

    def script(self, kind: str) -> str | None:
        """The body of one script, or None when the project has none."""
        for script in self.scripts:
            if script.kind == kind and script.body.strip():
                return script.body
        return None


class Server(Base):
    """One application server of a project, reached over SSH."""

    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("project_id", "host", "port", "user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=22)
    user: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: What ``current`` pointed at when an agent last read it back.
    current_version: Mapped[str | None] = mapped_column(String(64))
    current_checked_at: Mapped[datetime | None]
    #: Differences with the database found by the last check (``rds_control.drift``):
    #: ``[{"kind": ..., "detail": ...}]``; empty when the server agrees.
    drift: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    #: When the gc agent last read this server's current and releases/.
    inspected_at: Mapped[datetime | None]
    #: Why the last check could not read the server (None: it could).
    inspection_error: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship(back_populates="servers")

    @property
    def label(self) -> str:
        return "%s@%s:%d" % (self.user, self.host, self.port)


class ProjectScript(Timestamps, Base):
    """One bash script of a project (kinds: see ``rds_core.scripts``)."""

    __tablename__ = "project_scripts"
    __table_args__ = (UniqueConstraint("project_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")

    project: Mapped[Project] = relationship(back_populates="scripts")


class ProjectLink(Base):
    """Parent/child projects build, activate and revert together."""

    __tablename__ = "project_links"

    parent_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                           primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                          primary_key=True)


class ReleaseLine(Base):
    """A major release line (``release_version`` in RDS): first part of versions."""

    __tablename__ = "release_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(100))


class ProjectLineCounter(Base):
    """Per project and release line: the NNN part of the last version."""

    __tablename__ = "project_line_counters"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)
