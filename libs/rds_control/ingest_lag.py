"""How far behind ingest is: the send time of the newest probe it applied.

The pruner publishes an ``ingest_probe`` (``rds_contracts.ingest``) through
the events queue every few seconds; ingest applies it like any event, in
queue order, and records its send time here. So "the newest probe applied
was sent at T" means ingest has taken every event published before T: T is
the **ingest clock**, and ``now − T`` the age of the oldest event still
waiting (within one probe interval). A backlog, a slow or stopped ingest,
events parked in delay queues while the database is away: all of them hold
the clock back by exactly how late ingest is, which nothing else measures as
cheaply (one row read, one small message every few seconds; no management
API, no peeking into the queue, no write per event).

The reaper judges every rule a backlog could explain (deadlines, the
queue timeout, a cancel nobody confirmed, a report lost) at the ingest clock
instead of the wall clock (``rds_control.reaper``).

Until the first probe has been applied (a new database), the clock is the
wall clock: there is nothing to wait for.
"""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from rds_contracts.ingest import IngestProbe as ProbeEvent
from rds_db.models import IngestProbe
from rds_db.models.base import utcnow

#: Seconds between two probes of the pruner.
PROBE_INTERVAL = 5.0


def apply_probe(session: Session, probe: ProbeEvent) -> None:
    """Record ``probe`` unless a newer one was applied already (idempotent, any order)."""
    values = dict(sent_at=probe.at, sender=probe.sender, applied_at=utcnow())
    statement = insert(IngestProbe).values(id=1, **values)
    session.execute(statement.on_conflict_do_update(
        index_elements=[IngestProbe.id], set_=values,
        where=IngestProbe.sent_at < statement.excluded.sent_at))


def ingest_clock(session: Session, now: datetime) -> datetime:
    """Ingest has applied every event published before this (never later than ``now``)."""
    newest = session.scalar(select(IngestProbe.sent_at).where(IngestProbe.id == 1))
    return min(now, newest) if newest is not None else now


def ingest_lag(session: Session, now: datetime) -> float:
    """Seconds ingest is behind ``now`` (0 before the first probe)."""
    return (now - ingest_clock(session, now)).total_seconds()
