"""Notification channels of projects and the notifications outbox.

A channel (email address, Slack-compatible webhook, or generic signed
webhook) subscribes to some events of one project. When an event happens,
one ``notification_outbox`` row per subscribed channel is written in the
same transaction as the change; the pruner delivers due rows outside any
request, retrying with backoff (``next_attempt_at``), and records the last
error on the channel so the project page can show a failing channel.
"""
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rds_core.notices import ChannelKind
from rds_db.models.base import Base, Timestamps, str_enum, utcnow

if TYPE_CHECKING:
    from rds_db.models.projects import Project


class NotificationChannel(Timestamps, Base):
    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind))
    #: An email address or an http(s) URL.
    target: Mapped[str] = mapped_column(String(2048))
    #: HMAC-SHA256 key of a generic webhook (never shown back).
    secret: Mapped[str | None] = mapped_column(String(200))
    #: Names of the subscribed ``NoticeEvent``s.
    events: Mapped[list[str]] = mapped_column(JSONB, default=list)
    last_sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]

    project: Mapped["Project"] = relationship()

    @property
    def failing(self) -> bool:
        """The last delivery attempt on this channel failed."""
        return self.last_error_at is not None and (
            self.last_sent_at is None or self.last_error_at > self.last_sent_at)


class NotificationMessage(Base):
    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "next_attempt_at",
                            postgresql_where="sent_at IS NULL AND given_up_at IS NULL"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    #: What happened: project, version, release_id, message, actor, at.
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    given_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    channel: Mapped[NotificationChannel] = relationship()
