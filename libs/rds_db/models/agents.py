"""Agent copies as announced by their heartbeat; how far behind ingest is."""
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from rds_db.models.base import Base


class Agent(Base):
    __tablename__ = "agents"

    #: ``<host>/<service>/<pid>``: one row per agent process.
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    service: Mapped[str] = mapped_column(String(40))
    pool: Mapped[str] = mapped_column(String(63), index=True)
    host: Mapped[str] = mapped_column(String(253))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(40))
    running_tasks: Mapped[list] = mapped_column(JSONB, default=list)
    #: ``{task id: when}``: tasks a heartbeat of this copy stopped listing, and the send time
    #: of the first heartbeat without each (``rds_control.heartbeats``)
    dropped_tasks: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")
    heartbeat_interval: Mapped[float]
    first_seen_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime]


class IngestProbe(Base):
    """The newest ingest probe applied: ingest has applied every event published before it.

    One row (``id = 1``), written by ingest when a probe arrives through the
    events queue (``rds_control.ingest_lag``).
    """

    __tablename__ = "ingest_probe"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    #: when the newest probe applied was sent (the pruner's clock)
    sent_at: Mapped[datetime]
    #: which pruner copy sent it
    sender: Mapped[str] = mapped_column(String(200))
    #: when ingest applied it
    applied_at: Mapped[datetime]
