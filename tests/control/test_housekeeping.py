"""Old bookkeeping rows are trimmed, recent ones kept."""
from datetime import timedelta

from rds_control.housekeeping import trim
from rds_db.models import Change, OutboxMessage
from rds_db.models.base import utcnow


def test_it_trims_only_what_is_old(db_session):
    now = utcnow()
    old_sent = OutboxMessage(command="build", pool="p", body={}, sent_at=now - timedelta(days=8))
    unsent = OutboxMessage(command="build", pool="p", body={}, created_at=now - timedelta(days=9))
    old_change, new_change = Change(kind="x", at=now - timedelta(days=2)), Change(kind="x", at=now)
    db_session.add_all([old_sent, unsent, old_change, new_change])
    db_session.flush()
    counts = trim(db_session, now=now)
    assert counts["outbox"] >= 1 and counts["changes"] >= 1
    remaining = {o.id for o in db_session.query(OutboxMessage)}
    assert unsent.id in remaining and old_sent.id not in remaining
    assert db_session.get(Change, new_change.id) is not None
