"""Keep the bookkeeping tables small (run hourly by the pruner).

* sent outbox rows older than ``outbox_days`` are deleted;
* change-feed rows older than ``changes_hours`` are deleted (a browser
  stream older than that reloads the page instead of resuming);
* agents silent for ``agents_days`` are forgotten;
* login-throttle counters quiet for their window and not blocking are dropped.
"""
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from rds_control import logins
from rds_db.models import Agent, Change, OutboxMessage
from rds_db.models.base import utcnow
from rds_db.session import affected_rows


def trim(session: Session, outbox_days: float = 7, changes_hours: float = 24,
         agents_days: float = 7, now: datetime | None = None) -> dict[str, int]:
    """Delete old rows; returns how many of each were deleted."""
    now = now or utcnow()
    counts = {}
    counts["outbox"] = affected_rows(session, delete(OutboxMessage).where(
        OutboxMessage.sent_at < now - timedelta(days=outbox_days)))
    counts["changes"] = affected_rows(session, delete(Change).where(
        Change.at < now - timedelta(hours=changes_hours)))
    counts["agents"] = affected_rows(session, delete(Agent).where(
        Agent.last_heartbeat_at < now - timedelta(days=agents_days)))
    counts["login_throttle"] = logins.forget(session, now)
    return counts
