"""Deliver queued notifications: email over SMTP, Slack-compatible and signed webhooks.

The pruner calls :func:`deliver_due` on a timer, never a web request. Each
due row of ``notification_outbox`` is taken under ``FOR UPDATE SKIP
LOCKED`` in its own transaction (so several pruners never send one row
twice), delivered, and marked sent in that transaction. A failure leaves
the row unsent with ``next_attempt_at`` pushed back exponentially
(:func:`backoff`), and records the error on the channel (the project page
shows it) until a later delivery succeeds; after :data:`MAX_ATTEMPTS` the
row is given up. Every message links to the release page (or the board).

Wire formats:

* email: ``Subject: [rds] <project> <version>: <event>``, plain text;
* ``slack``: ``{"text": "..."}`` with a ``<url|label>`` link;
* ``webhook``: JSON ``{"event", "project", "version", "release_id", "url",
  "message", "actor", "at", "delivery"}``, header ``X-Rds-Signature:
  sha256=<hex HMAC-SHA256 of the raw body under the channel secret>``,
  plus ``X-Rds-Event`` and ``X-Rds-Delivery`` (the same id on every retry
  of one notification, for receivers that want to drop a rare duplicate).

Settings come from ``rds_settings`` (environment ``RDS_SMTP_*``,
``RDS_PUBLIC_URL``, ``RDS_NOTIFY_TIMEOUT``; see :func:`settings_from`).
"""
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rds_core.notices import TITLES, ChannelKind, NoticeEvent
from rds_db.models import NotificationChannel, NotificationMessage
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_settings.settings import Settings

log = logging.getLogger(__name__)

#: Attempts before a notification is given up (the last waits an hour).
MAX_ATTEMPTS = 10
SIGNATURE_HEADER = "X-Rds-Signature"


class DeliveryError(Exception):
    """The channel did not accept the notification (the reason is shown to people)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    sender: str = "rds@localhost"


@dataclass(frozen=True)
class DeliverySettings:
    #: Base URL of the web UI, for links to release pages.
    public_url: str = "http://127.0.0.1:8000"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    #: Seconds to wait for an SMTP server or a webhook receiver.
    timeout: float = 10.0


def settings_from(settings: Settings) -> DeliverySettings:
    """Delivery settings from the settings object (``rds_settings``: ``smtp_*``,
    ``public_url``, ``notify_timeout``)."""
    smtp = SmtpSettings(host=settings.smtp_host or None, port=settings.smtp_port,
                        starttls=settings.smtp_starttls, user=settings.smtp_user or None,
                        password=settings.smtp_password or None,
                        sender=settings.smtp_from or "rds@localhost")
    return DeliverySettings(public_url=settings.public_url.rstrip("/"), smtp=smtp,
                            timeout=settings.notify_timeout)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 30 s, 1 min, 2 min … 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def link(message: NotificationMessage, settings: DeliverySettings) -> str:
    release_id = message.body.get("release_id")
    if release_id:
        return "%s/releases/%d" % (settings.public_url, release_id)
    return "%s/?project=%s" % (settings.public_url, message.body.get("project") or "")


def headline(message: NotificationMessage) -> str:
    body = message.body
    title = TITLES.get(NoticeEvent(message.event), message.event)
    what = " ".join(p for p in (body.get("project"), body.get("version")) if p)
    return "%s: %s" % (what, title) if what else title


def send_email(channel: NotificationChannel, message: NotificationMessage,
               settings: DeliverySettings) -> None:
    smtp = settings.smtp
    if not smtp.host:
        raise DeliveryError("email is not configured: set RDS_SMTP_HOST for the pruner")
    mail = EmailMessage()
    mail["From"] = smtp.sender
    mail["To"] = channel.target
    mail["Subject"] = "[rds] %s" % headline(message)
    mail["X-Rds-Delivery"] = str(message.id)
    mail.set_content("%s\n\n%s\n\nBy %s at %s\n%s\n" % (
        headline(message), message.body.get("message", ""), message.body.get("actor"),
        message.body.get("at"), link(message, settings)))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=settings.timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.user:
                server.login(smtp.user, smtp.password or "")
            server.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError("SMTP %s:%d: %s" % (smtp.host, smtp.port, exc)) from None


def webhook_body(message: NotificationMessage, settings: DeliverySettings) -> bytes:
    body = dict(message.body, url=link(message, settings), delivery=message.id)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    try:
        response = requests.post(url, data=body, timeout=timeout, allow_redirects=False,
                                 headers={"Content-Type": "application/json", **headers})
    except requests.RequestException as exc:
        raise DeliveryError("POST %s: %s" % (url.split("?")[0], exc)) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError("POST %s: HTTP %d %s" % (url.split("?")[0], response.status_code,
                                                     response.text[:200].strip()))


def send_slack(channel: NotificationChannel, message: NotificationMessage,
               settings: DeliverySettings) -> None:
    text = "*%s* — %s <%s|open in rds>" % (headline(message), message.body.get("message", ""),
                                           link(message, settings))
    body = json.dumps({"text": text}).encode()
    _post(channel.target, body, {"X-Rds-Delivery": str(message.id)}, settings.timeout)


def send_webhook(channel: NotificationChannel, message: NotificationMessage,
                 settings: DeliverySettings) -> None:
    body = webhook_body(message, settings)
    _post(channel.target, body, {SIGNATURE_HEADER: signature(channel.secret or "", body),
                                 "X-Rds-Event": message.event,
                                 "X-Rds-Delivery": str(message.id)}, settings.timeout)


Sender = Callable[[NotificationChannel, NotificationMessage, DeliverySettings], None]
SENDERS: dict[ChannelKind, Sender] = {ChannelKind.EMAIL: send_email,
                                      ChannelKind.SLACK: send_slack,
                                      ChannelKind.WEBHOOK: send_webhook}


def _take_due(session: Session, now: datetime,
              channels: Collection[int] | None) -> NotificationMessage | None:
    query = (select(NotificationMessage)
             .where(NotificationMessage.sent_at.is_(None),
                    NotificationMessage.given_up_at.is_(None),
                    NotificationMessage.next_attempt_at <= now)
             .order_by(NotificationMessage.next_attempt_at, NotificationMessage.id).limit(1)
             .with_for_update(skip_locked=True))
    if channels is not None:
        query = query.where(NotificationMessage.channel_id.in_(list(channels)))
    return session.scalars(query).first()


def deliver_one(session: Session, message: NotificationMessage, settings: DeliverySettings,
                now: datetime) -> bool:
    """Send one notification; record the outcome on it and its channel."""
    channel = message.channel
    message.attempts += 1
    try:
        SENDERS[ChannelKind(channel.kind)](channel, message, settings)
    except Exception as exc:  # a broken channel must never stop the others
        reason = str(exc) if isinstance(exc, DeliveryError) else "%s: %s" % (
            type(exc).__name__, exc)
        log.warning("notification %s on channel %s failed (attempt %d): %s",
                    message.id, channel.id, message.attempts, reason)
        message.last_error = channel.last_error = reason[:2000]
        channel.last_error_at = now
        if message.attempts >= MAX_ATTEMPTS:
            message.given_up_at = now
        else:
            message.next_attempt_at = now + backoff(message.attempts)
        return False
    message.sent_at = channel.last_sent_at = now
    message.last_error = None
    return True


def deliver_due(session_factory: sessionmaker[Session], settings: DeliverySettings,
                now: datetime | None = None, limit: int = 50,
                channels: Collection[int] | None = None) -> tuple[int, int]:
    """Deliver up to ``limit`` due notifications (of ``channels``, default all);
    returns (sent, failed)."""
    sent = failed = 0
    for _ in range(limit):
        with transaction(session_factory) as session:
            moment = now or utcnow()
            message = _take_due(session, moment, channels)
            if message is None:
                break
            if deliver_one(session, message, settings, moment):
                sent += 1
            else:
                failed += 1
    return sent, failed
