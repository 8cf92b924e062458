"""Tasks: one unit of agent work (a build, an activation, ...) and its log.

A build in the sense of SPEC §2 is a task of kind ``build`` (build + upload);
its build log is the task's log. The partial unique index below is the
per-project deploy lock: at most one active task per project and lane.
"""
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_core.lifecycle import Lane, TaskKind, TaskStatus
from rds_db.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from rds_db.models.projects import Project
    from rds_db.models.releases import ReleaseRequest

_KINDS = ", ".join("'%s'" % k.value for k in TaskKind)
_STATUSES = ", ".join("'%s'" % s.value for s in TaskStatus)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("kind IN (%s)" % _KINDS, name="kind"),
        CheckConstraint("status IN (%s)" % _STATUSES, name="status"),
        Index("uq_tasks_one_active_per_project_lane", "project_id", "lane", unique=True,
              postgresql_where=text("lane IS NOT NULL AND finished_at IS NULL")),
    )

    #: uuid4 hex; also the task id on the wire.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind))
    lane: Mapped[Lane | None] = mapped_column(str_enum(Lane))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("release_requests.id", ondelete="CASCADE"), index=True)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.QUEUED)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pool: Mapped[str] = mapped_column(String(63))
    agent: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(32))
    #: Fencing token of the current run: +1 each time a run claims the task.
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Highest sequence number of a state-changing event applied for run_id.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: The command as sent, so an operator can re-send it.
    command: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: Step timings: {step: {"started": iso, "finished": iso}}.
    steps: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: Last time an event for this task arrived.
    seen_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    #: Activations of parent/child projects started together share the parent's task id.
    family_task_id: Mapped[str | None] = mapped_column(String(32), index=True)

    release: Mapped["ReleaseRequest | None"] = relationship(back_populates="tasks")
    project: Mapped["Project"] = relationship()
    logs: Mapped[list["TaskLog"]] = relationship(
        order_by="TaskLog.run_id, TaskLog.seq", cascade="all, delete-orphan",
        passive_deletes=True)

    def require_release(self) -> "ReleaseRequest":
        """The release of a task kind that always has one (build, activation, removal)."""
        if self.release is None:
            raise LookupError("task %s (%s) has no release" % (self.id, self.kind))
        return self.release


class TaskLog(Base):
    """One chunk of a task's output (streamed while its scripts run)."""

    __tablename__ = "task_logs"
    __table_args__ = (UniqueConstraint("task_id", "run_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskLogSize(Base):
    """Bytes of log stored per task, kept by ingest as it stores chunks, so the
    release log cap (``RDS_RELEASE_LOG_LIMIT``) is checked without summing the log."""

    __tablename__ = "task_log_sizes"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"),
                                         primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
