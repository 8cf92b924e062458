"""Following the change feed without missing a row.

``changes.id`` comes from a sequence, so ids are allocated in order but may
commit out of order: a transaction holding id 10 can commit after one holding
id 11. A reader that only asks for ``id > last`` would skip 10 for good. The
cursor therefore remembers every id it jumped over (a *gap*) and asks for
those again until they appear or a grace period passes (the transaction
rolled back). A stream that starts or resumes from an id treats missing ids
just below it the same way, since the page it continues may have been read
while they were still in flight.
"""
import time

from sqlalchemy import select

from rds_db.models import Change

#: How long an id we skipped may still show up (longer than any transaction
#: that records a change is expected to stay open).
GAP_GRACE = 10.0
#: How far below its starting id a new cursor looks for ids still in flight.
LOOKBACK = 200
#: More missing ids than this in one jump are not tracked (a bulk rollback).
MAX_GAPS = 1000


class ChangeCursor:
    def __init__(self, after, clock=time.monotonic, grace=GAP_GRACE):
        self.last = max(int(after), 0)
        self.gaps = {}
        self.clock = clock
        self.grace = grace

    def prime(self, session, lookback=LOOKBACK):
        """Watch the ids missing just below the starting point for a while."""
        low = max(self.last - lookback, 0)
        present = set(session.scalars(select(Change.id).where(
            Change.id > low, Change.id <= self.last)))
        deadline = self.clock() + self.grace
        for missing in range(low + 1, self.last + 1):
            if missing not in present:
                self.gaps[missing] = deadline

    def fetch(self, session, limit=500):
        """Changes not seen yet (new ones and late commits of gaps), by id."""
        now = self.clock()
        self.gaps = {i: d for i, d in self.gaps.items() if d > now}
        condition = Change.id > self.last
        if self.gaps:
            condition = condition | Change.id.in_(sorted(self.gaps))
        rows = list(session.scalars(select(Change).where(condition).order_by(Change.id)
                                    .limit(limit)))
        deadline = now + self.grace
        for row in rows:
            if row.id <= self.last:
                self.gaps.pop(row.id, None)
                continue
            if row.id - self.last - 1 <= MAX_GAPS:
                for missing in range(self.last + 1, row.id):
                    self.gaps[missing] = deadline
            self.last = row.id
        return rows

    @property
    def waiting(self):
        """True while some skipped id may still commit (poll again soon)."""
        return bool(self.gaps)
