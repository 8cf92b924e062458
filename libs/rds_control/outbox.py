"""Queue commands in the caller's transaction; publish them after commit."""
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rds_contracts.base import Command
from rds_contracts.registry import command_name, parse_command
from rds_db.models import OutboxMessage
from rds_db.models.base import utcnow
from rds_db.session import transaction

log = logging.getLogger(__name__)

PENDING_KEY = "rds_outbox_ids"


class CommandPublisher(Protocol):
    """What the outbox needs of a publisher (``rds_bus.publish.BusPublisher``)."""

    def send_command(self, command: Command, pool: str) -> None: ...

    def broadcast_command(self, command: Command, pool: str) -> None: ...


def enqueue(session: Session, command: Command, pool: str,
            broadcast: bool = False) -> OutboxMessage:
    """Add ``command`` to the outbox; returns the row (its id after flush)."""
    message = OutboxMessage(command=command_name(command), pool=pool, broadcast=broadcast,
                            body=command.to_wire())
    session.add(message)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append(message.id)
    return message


def pending_ids(session: Session) -> list[int]:
    """Ids of the outbox rows queued in this session (to publish after commit)."""
    return list(session.info.get(PENDING_KEY, ()))


def publish_pending(session_factory: sessionmaker[Session], publisher: CommandPublisher,
                    ids: Sequence[int] | None = None, older_than: float | None = None,
                    limit: int = 100) -> int:
    """Publish unsent outbox rows; returns how many were sent.

    ``ids`` limits it to rows just committed (the fast path after a request);
    ``older_than`` (seconds) picks stragglers (the pruner's safety net). Rows
    are locked with SKIP LOCKED, so concurrent flushers never double-send.
    """
    sent = 0
    with transaction(session_factory) as session:
        query = (select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                 .order_by(OutboxMessage.id).limit(limit)
                 .with_for_update(skip_locked=True))
        if ids is not None:
            if not ids:
                return 0
            query = query.where(OutboxMessage.id.in_(ids))
        if older_than is not None:
            query = query.where(OutboxMessage.created_at < utcnow() - timedelta(seconds=older_than))
        for message in session.scalars(query):
            message.attempts += 1
            try:
                command = parse_command(message.command, message.body)
                if message.broadcast:
                    publisher.broadcast_command(command, message.pool)
                else:
                    publisher.send_command(command, message.pool)
            except Exception as exc:  # broker away: the next flush retries
                log.warning("could not publish outbox message %s (%s): %s",
                            message.id, message.command, exc)
                message.last_error = str(exc)[:1000]
                break
            message.sent_at = utcnow()
            message.last_error = None
            sent += 1
    return sent


