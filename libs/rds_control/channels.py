"""Notification channels of a project: add (validated), list, remove.

A channel is an email address, a Slack-compatible incoming webhook, or a
generic webhook whose JSON body is signed with HMAC-SHA256 under the
channel's secret; it subscribes to some ``NoticeEvent``s (default: all).
Bad input (an address that is not one, a URL that is not http(s), an
unknown event, a short secret) is refused naming the field; nothing is
saved. The secret is stored (it is needed to sign) but never shown back.
"""
import re
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_control import audit
from rds_control.errors import NotFound
from rds_control.inputs import ONE_LINE, STRIP, Input, limits, parse
from rds_control.projects import get_project
from rds_core.notices import ChannelKind, NoticeEvent
from rds_db.models import NotificationChannel, User

#: A pragmatic email address check (RFC 5321 lengths, no spaces or quoting).
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                      r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
MAX_URL = 2048


def check_email(value: str) -> str:
    if not EMAIL_RE.fullmatch(value) or ".." in value:
        raise ValueError("%r is not an email address (name@example.com)" % value[:100])
    return value


def check_http_url(value: str) -> str:
    if len(value) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must be an http(s) URL without spaces, at most %d characters"
                         % MAX_URL)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("%r is not an http(s) URL" % value[:100])
    return value


class ChannelInput(Input):
    kind: ChannelKind
    #: The email address, or the webhook URL.
    target: Annotated[str, STRIP, ONE_LINE, limits(MAX_URL)]
    events: list[NoticeEvent] = Field(default_factory=lambda: list(NoticeEvent),
                                      min_length=1, max_length=len(NoticeEvent))
    #: Signing key of a generic webhook (16 to 200 characters).
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[NoticeEvent]) -> list[NoticeEvent]:
        return sorted(set(value), key=list(NoticeEvent).index)

    @model_validator(mode="after")
    def _target(self) -> Self:
        try:
            if self.kind == ChannelKind.EMAIL:
                check_email(self.target)
            else:
                check_http_url(self.target)
        except ValueError as exc:
            raise ValueError("target: %s" % exc) from None
        if self.kind == ChannelKind.WEBHOOK and not self.secret:
            raise ValueError("secret: a generic webhook needs a secret to sign its body with")
        if self.secret is not None and not self.secret.isprintable():
            raise ValueError("secret: must be printable characters")
        return self


def _parse(data: object) -> ChannelInput:
    """Validate; errors raised by the whole-model check name their own field."""
    from rds_control.errors import InvalidInput

    try:
        return parse(ChannelInput, data)
    except InvalidInput as exc:
        if exc.field is None and ": " in exc.message:
            field, _, _ = exc.message.partition(": ")
            if field in ChannelInput.model_fields:
                raise InvalidInput(exc.message, field=field) from None
        raise


def list_channels(session: Session, project_id: int) -> list[NotificationChannel]:
    return list(session.scalars(select(NotificationChannel).where(
        NotificationChannel.project_id == project_id).order_by(NotificationChannel.id)))


def describe(channel: NotificationChannel) -> str:
    target = channel.target
    if channel.kind != ChannelKind.EMAIL:
        parts = urlsplit(target)
        target = "%s://%s/…" % (parts.scheme, parts.hostname)  # URLs often hold a token
    return "%s %s" % (channel.kind, target)


def add_channel(session: Session, project_name: str, data: object,
                user: User | None) -> NotificationChannel:
    """Subscribe a channel to events of a project."""
    values = _parse(data)
    project = get_project(session, project_name, lock=True)
    channel = NotificationChannel(
        project=project, kind=values.kind, target=values.target,
        secret=values.secret if values.kind == ChannelKind.WEBHOOK else None,
        events=[str(e) for e in values.events])
    session.add(channel)
    session.flush()
    audit.record(session, "notification.added", "Added notification channel %s to %s (%s)"
                 % (describe(channel), project.name, ", ".join(channel.events)),
                 user=user, project=project, channel_id=channel.id)
    return channel


def remove_channel(session: Session, channel_id: int, user: User | None) -> str:
    """Delete a channel and whatever it had not delivered yet."""
    channel = session.get(NotificationChannel, channel_id, with_for_update=True)
    if channel is None:
        raise NotFound("no notification channel with id %s" % channel_id)
    text = describe(channel)
    audit.record(session, "notification.removed", "Removed notification channel %s of %s"
                 % (text, channel.project.name), user=user, project=channel.project,
                 channel_id=channel.id)
    session.delete(channel)
    session.flush()
    return text
