"""Agent copies as announced by their heartbeat."""
from datetime import datetime

from sqlalchemy import Integer, String
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
    heartbeat_interval: Mapped[float]
    first_seen_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime]
