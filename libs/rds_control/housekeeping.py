"""Keep the bookkeeping tables small (run hourly by the pruner).

* sent outbox rows older than ``outbox_days`` are deleted;
* change-feed rows older than ``changes_hours`` are deleted (a browser
  stream older than that reloads the page instead of resuming);
* agents silent for ``agents_days`` are forgotten;
* login-throttle counters quiet for their window and not blocking are dropped.
"""
from datetime import timedelta

from sqlalchemy import delete

from rds_control import logins
from rds_db.models import Agent, Change, OutboxMessage
from rds_db.models.base import utcnow


def trim(session, outbox_days=7, changes_hours=24, agents_days=7, now=None):
    """Delete old rows; returns how many of each were deleted."""
    now = now or utcnow()
    counts = {}
    counts["outbox"] = session.execute(delete(OutboxMessage).where(
        OutboxMessage.sent_at < now - timedelta(days=outbox_days))).rowcount
    counts["changes"] = session.execute(delete(Change).where(
        Change.at < now - timedelta(hours=changes_hours))).rowcount
    counts["agents"] = session.execute(delete(Agent).where(
        Agent.last_heartbeat_at < now - timedelta(days=agents_days))).rowcount
    counts["login_throttle"] = logins.forget(session, now)
    return counts
