"""Transactional outbox: commands written with the change that caused them.

A command row is committed in the same transaction as the state change, then
published right after the commit; ``pruner`` re-publishes any row still
unsent a few seconds later, so a crash between commit and publish loses
nothing. Agents are idempotent per task, so a rare double send is harmless.
"""
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from rds_db.models.base import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    command: Mapped[str] = mapped_column(String(40))
    pool: Mapped[str] = mapped_column(String(63))
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
