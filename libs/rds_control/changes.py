"""The change feed: appending to it, and following it without missing a row.

Writing: every control-plane change calls :func:`record_change` (or
:func:`release_changed`) in its transaction; the row and a ``NOTIFY`` carrying
its id and kind (``rds_db.models.changes``) become visible at commit. Inside
:func:`batched` (ingest applying a batch of agent events), ``record_change``
only notes the change: when the batch ends, one row per kind, project, release
and task is written, with one ``NOTIFY`` carrying the newest id and the kinds.

Reading: ``changes.id`` comes from a sequence, so ids are allocated in order
but may commit out of order: a transaction holding id 10 can commit after one
holding id 11. A reader that only asks for ``id > last`` would skip 10 for
good. :class:`ChangeCursor` therefore remembers every id it jumped over (a
*gap*) and asks for those again until they appear or a grace period passes
(the transaction rolled back). A cursor that starts or resumes from an id
treats missing ids just below it the same way, since the page it continues
may have been read while they were still in flight.
"""
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from rds_db.models import Change, ReleaseRequest
from rds_db.models.base import utcnow
from rds_db.models.changes import NOTIFY_CHANNEL, notify_payload

#: How long an id we skipped may still show up (longer than any transaction
#: that records a change is expected to stay open).
GAP_GRACE = 10.0
#: How far below its starting id a new cursor looks for ids still in flight.
LOOKBACK = 200
#: More missing ids than this in one jump are not tracked (a bulk rollback).
MAX_GAPS = 1000
#: ``session.info`` key of the changes noted inside ``batched``.
BATCH_KEY = "rds_batched_changes"

ChangeKey = tuple[str, int | None, int | None, str | None]


class ChangeRow(NamedTuple):
    """One row of the feed as readers see it (the columns, not an ORM object)."""

    id: int
    kind: str
    project_id: int | None
    release_id: int | None
    task_id: str | None


# -- writing -----------------------------------------------------------------

def notify(session: Session, newest_id: int, kinds: Iterable[str]) -> None:
    """Tell listeners (at commit) that changes up to ``newest_id`` of ``kinds`` exist."""
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": notify_payload(newest_id, kinds)})


def record_change(session: Session, kind: str, project_id: int | None = None,
                  release_id: int | None = None, task_id: str | None = None) -> Change | None:
    """Append a change (or, inside :func:`batched`, note it for the end of the batch)."""
    noted: dict[ChangeKey, None] | None = session.info.get(BATCH_KEY)
    if noted is not None:
        noted.setdefault((kind, project_id, release_id, task_id), None)
        return None
    change = Change(kind=kind, project_id=project_id, release_id=release_id, task_id=task_id)
    session.add(change)
    session.flush()
    notify(session, change.id, [kind])
    return change


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Collect the changes recorded inside; write each once, with one NOTIFY, at the end
    (nothing is written if the block raises)."""
    noted: dict[ChangeKey, None] = {}
    session.info[BATCH_KEY] = noted
    try:
        yield
        del session.info[BATCH_KEY]
        _write(session, list(noted))
    finally:
        session.info.pop(BATCH_KEY, None)


def _write(session: Session, keys: list[ChangeKey]) -> None:
    if not keys:
        return
    at = utcnow()
    ids = session.connection().execute(_ADD, [
        {"kind": kind, "project_id": project_id, "release_id": release_id, "task_id": task_id,
         "at": at} for kind, project_id, release_id, task_id in keys]).scalars().all()
    notify(session, max(ids), {key[0] for key in keys})


_ADD = insert(Change).returning(Change.id)


def release_changed(session: Session, release: ReleaseRequest,
                    task_id: str | None = None) -> Change | None:
    return record_change(session, "release", project_id=release.project_id,
                         release_id=release.id, task_id=task_id)


def last_change_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Change.id), 0))) or 0)


# -- reading -----------------------------------------------------------------

class ChangeCursor:
    """A position in the feed that misses no row committed out of order."""

    def __init__(self, after: int, clock: Callable[[], float] = time.monotonic,
                 grace: float = GAP_GRACE) -> None:
        self.last = max(int(after), 0)
        self.gaps: dict[int, float] = {}
        self.clock = clock
        self.grace = grace

    def prime(self, session: Session, lookback: int = LOOKBACK) -> None:
        """Watch the ids missing just below the starting point for a while."""
        low = max(self.last - lookback, 0)
        present = set(session.scalars(select(Change.id).where(
            Change.id > low, Change.id <= self.last)))
        deadline = self.clock() + self.grace
        for missing in range(low + 1, self.last + 1):
            if missing not in present:
                self.gaps[missing] = deadline

    def fetch(self, session: Session, limit: int = 500) -> list[ChangeRow]:
        """Changes not seen yet (new ones and late commits of gaps), by id."""
        now = self.clock()
        self.gaps = {i: d for i, d in self.gaps.items() if d > now}
        condition = Change.id > self.last
        if self.gaps:
            condition = condition | Change.id.in_(sorted(self.gaps))
        rows = [ChangeRow(*row) for row in session.execute(
            select(Change.id, Change.kind, Change.project_id, Change.release_id,
                   Change.task_id).where(condition).order_by(Change.id).limit(limit))]
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
    def waiting(self) -> bool:
        """True while some skipped id may still commit (poll again soon)."""
        return bool(self.gaps)
