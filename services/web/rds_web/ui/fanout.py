"""One change reader per web process: read each change once, render once, push to the streams.

Every open page's event stream (``rds_web.ui.events``) *subscribes* here with
its view (what the page shows: board rows, a build's header and log, the
agents table, the migrations page). Subscribers whose views show the same
thing to the same role share a *group*; the reader thread:

1. sleeps until the process's LISTEN hub (``rds_web.change_hub``) reports a
   change of a kind some group cares about (a board ignores heartbeats and log
   lines without a query), a stream joins, or ``POLL_SECONDS`` pass (a lost
   notification; half a second while the feed cursor waits for an id
   committed out of order);
2. reads the new changes once, with one connection, through the gap-aware
   :class:`rds_control.changes.ChangeCursor`;
3. renders each group's events once (not per stream; a board row is read and
   rendered once per role for every filter that shows it, see :func:`shared`)
   and pushes the finished SSE text to every member's queue.

Stream threads only wait on their queue and write to their socket: they hold
no database connection. A queue is bounded (``QUEUE_LIMIT``): a client too
slow to read is sent ``reload`` and dropped, and never holds up the others.

A joining stream resumes from the change id its page was rendered at (or its
``Last-Event-ID``). The reader keeps the last ``MAX_BACKLOG`` changes it read,
so the catch-up costs no feed query when the id is recent; an older id is
read from the database once, and one more than ``MAX_BACKLOG`` behind is
told to ``reload``. A change may reach a stream twice (once in its catch-up,
once live): every event re-renders current state, so that is harmless,
whereas a missed change is not.

Shared renders are for a role, not a person: what a page shows depends on
the role of who looks (the buttons a row offers), never on who it is, and
each form's CSRF token is a placeholder (``CSRF_MARKER``) the stream swaps
for its own session's token before writing.
"""
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, g, request
from sqlalchemy.orm import Session, sessionmaker

from rds_control.changes import GAP_GRACE, LOOKBACK, ChangeCursor, ChangeRow, last_change_id

log = logging.getLogger(__name__)

EXTENSION = "rds_stream_reader"
#: A stream this far behind (in changes) is told to reload instead.
MAX_BACKLOG = 2000
#: Look at the feed at least this often while streams are open (lost notifications).
POLL_SECONDS = 5.0
#: ... and this often while an id committed out of order may still show up.
GAP_POLL_SECONDS = 0.5
#: Pushes a stream may have unwritten before it is told to reload and dropped.
QUEUE_LIMIT = 100
#: Stands in for the CSRF token in shared renders (alphanumeric: JSON and HTML keep it).
CSRF_MARKER = "RDScsrfTOKENmarker7f3a9c"

Event = tuple[str, dict[str, Any]]
T = TypeVar("T")


def sse(event: str | None = None, data: object = None, event_id: str | int | None = None,
        retry: int | None = None) -> str:
    """One server-sent event block."""
    lines = []
    if retry is not None:
        lines.append("retry: %d" % retry)
    if event_id is not None:
        lines.append("id: %s" % event_id)
    if event is not None:
        lines.append("event: %s" % event)
    if data is not None:
        lines.append("data: %s" % json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


RELOAD = sse("reload", {})


@dataclass(frozen=True)
class Looker:
    """Whom a shared render is for: the role is all that changes what a page shows.

    It stands in for the user (``g.user``, the ``user`` the board rules read).
    """

    role: str
    disabled_at: None = None
    id: None = None
    username: str = ""


def shared(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per reader round for all the views rendered for the same role
    (e.g. one board row for every board filter that shows it); plainly, elsewhere."""
    cache = g.get("live_round")
    if cache is None:
        return compute()
    full = (getattr(g.get("user"), "role", None), request.script_root, key)
    if full not in cache:
        cache[full] = compute()
    return cache[full]


class LiveView:
    """What one page shows live. Subclasses render ``events`` for a batch of changes."""

    #: The kinds of change that may concern the page.
    kinds: frozenset[str] = frozenset()
    #: True if the page also changes with time alone (``events`` is called every poll).
    ticks: bool = False

    def key(self) -> Hashable:
        """Pages with equal keys (and roles) show the same thing: they share renders."""
        raise NotImplementedError

    def prime(self, session: Session) -> None:
        """Read what the view needs before its first batch (in the render context)."""

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterable[Event]:
        """The events for these changes (only those of ``kinds``), rendered as HTML."""
        raise NotImplementedError

    def position(self, change_id: int) -> str:
        """The event id a page resumes from once it has seen up to ``change_id``."""
        return str(change_id)


class Subscriber:
    """One open stream: a bounded queue of SSE text the reader fills and the stream drains."""

    def __init__(self, view: LiveView, after: int, looker: Looker, base_url: str,
                 limit: int = QUEUE_LIMIT) -> None:
        self.view = view
        self.after = after
        self.looker = looker
        self.base_url = base_url
        self.limit = limit
        self.group: Group | None = None
        #: Set once the catch-up is queued and live changes reach this stream.
        self.attached = threading.Event()
        self.ended = False  # told to reload: write what is queued and stop
        self.left = False
        self._items: deque[str] = deque()
        self._condition = threading.Condition()

    def push(self, text: str) -> bool:
        """Queue ``text``; False (and a final ``reload``) if the stream fell too far behind."""
        with self._condition:
            if self.ended:
                return False
            if len(self._items) >= self.limit:
                self._items.clear()
                return self._end()
            self._items.append(text)
            self._condition.notify()
            return True

    def end(self, text: str = RELOAD) -> None:
        """Queue ``text`` as the last thing this stream sends."""
        with self._condition:
            if not self.ended:
                self._end(text)

    def _end(self, text: str = RELOAD) -> bool:
        self._items.append(text)
        self.ended = True
        self._condition.notify()
        return False

    def take(self, timeout: float) -> list[str]:
        """Everything queued, waiting up to ``timeout`` seconds for something."""
        with self._condition:
            self._condition.wait_for(lambda: bool(self._items), timeout)
            items = list(self._items)
            self._items.clear()
            return items

    def idle_position(self) -> str | None:
        """The event id reached, if nothing is queued (so no queued event is skipped)."""
        with self._condition:
            if self._items or self.group is None:
                return None
            return self.group.position


@dataclass(eq=False)
class Group:
    """Streams that show the same thing to the same role: one view, rendered once."""

    view: LiveView
    looker: Looker
    base_url: str
    position: str
    members: set[Subscriber] = field(default_factory=set)


@dataclass
class _Seen:
    row: ChangeRow
    at: float
    late: bool  # committed after a higher id had been read


class ChangeReader:
    """The process's one reader of the change feed (see the module docstring)."""

    def __init__(self, app: Flask, session_factory: sessionmaker[Session],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.session_factory = session_factory
        self.clock = clock
        #: Feed queries made (live batches and old catch-ups): for tests and benchmarks.
        self.feed_reads = 0
        self.cursor: ChangeCursor | None = None
        self._condition = threading.Condition()
        self._joining: list[Subscriber] = []
        self._groups: list[Group] = []
        self._wanted: frozenset[str] = frozenset()
        self._notified = False
        self._history: deque[_Seen] = deque()
        self._covered_after = 0
        self._thread: threading.Thread | None = None
        self._idle = False
        self._round: dict[Hashable, Any] = {}  # see ``shared``

    # -- called by streams and the hub -----------------------------------------

    def join(self, subscriber: Subscriber) -> None:
        """Start delivering to ``subscriber`` (its catch-up first)."""
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="rds-stream-reader")
                self._thread.start()
            self._joining.append(subscriber)
            self._wanted |= subscriber.view.kinds  # its notifications count from now on
            self._condition.notify_all()

    def leave(self, subscriber: Subscriber) -> None:
        with self._condition:
            subscriber.left = True
            if subscriber.group is not None:
                subscriber.group.members.discard(subscriber)

    def notified(self, kinds: frozenset[str] | None) -> None:
        """The hub's callback: changes of ``kinds`` (None: any) were committed."""
        with self._condition:
            if kinds is None or kinds & self._wanted:
                self._notified = True
                self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the reader has nothing to do (every notification it took up handled)."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._idle and not self._notified and not self._joining, timeout)

    # -- the reader thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # keep the thread alive; the streams resume or reload
                log.exception("stream reader failed; retrying")
                time.sleep(1)

    def step(self) -> None:
        """One round: wait for a reason, read new changes once, deliver, attach joiners."""
        with self._condition:
            self._idle = True
            self._condition.notify_all()
            self._condition.wait_for(lambda: bool(self._joining or self._notified),
                                     self._poll_timeout())
            self._idle = False
            joining, self._joining = self._joining, []
            self._notified = False
            self._groups = [group for group in self._groups if group.members]
            groups = list(self._groups)
            self._wanted = frozenset().union(
                *(s.view.kinds for s in joining), *(grp.view.kinds for grp in groups))
        if not groups:
            self.cursor = None  # nobody followed: start afresh (joiners catch up on their own)
            if not joining:
                return
        self._round = {}
        try:
            with self.session_factory() as session:
                changes = self._read(session)  # joiners too: their catch-up is up to now
                self._deliver(session, groups, changes)
                for subscriber in joining:
                    try:
                        self._attach(session, subscriber)
                    except Exception:
                        log.exception("a live view failed to start; its page reloads")
                        subscriber.end()
                        session.rollback()  # the others start on a clean transaction
        except Exception:
            for subscriber in joining:  # the database is away: the pages retry
                subscriber.end()
            raise

    def _poll_timeout(self) -> float | None:
        if not self._groups:
            return None
        return GAP_POLL_SECONDS if self.cursor is not None and self.cursor.waiting \
            else POLL_SECONDS

    def _read(self, session: Session) -> list[ChangeRow]:
        """The changes not read yet (at most ``MAX_BACKLOG``; the rest next round)."""
        cursor = self._cursor(session)
        before = cursor.last
        changes = cursor.fetch(session, limit=MAX_BACKLOG)
        self.feed_reads += 1
        if len(changes) >= MAX_BACKLOG:
            with self._condition:
                self._notified = True  # more to read: go on at once
        now = self.clock()
        for row in changes:
            self._history.append(_Seen(row, now, row.id <= before))
        while len(self._history) > MAX_BACKLOG:
            self._covered_after = max(self._covered_after, self._history.popleft().row.id)
        return changes

    def _cursor(self, session: Session) -> ChangeCursor:
        if self.cursor is None:
            self.cursor = ChangeCursor(last_change_id(session))
            self.cursor.prime(session)
            self._history.clear()
            self._covered_after = self.cursor.last
        return self.cursor

    def _deliver(self, session: Session, groups: list[Group],
                 changes: list[ChangeRow]) -> None:
        last = self.cursor.last if self.cursor is not None else 0
        for group in groups:
            mine = [c for c in changes if c.kind in group.view.kinds]
            if mine or group.view.ticks:
                try:
                    events = self._render(session, group.view, group.looker, group.base_url,
                                          mine)
                except Exception:
                    log.exception("rendering a live view failed; its pages reload")
                    self._drop(group)
                    session.rollback()
                    continue
                if events:
                    text = "".join(sse(name, data) for name, data in events) + sse(
                        event_id=group.view.position(last))
                    with self._condition:
                        members = list(group.members)
                    for member in members:
                        if not member.push(text):  # too slow: told to reload
                            self.leave(member)
            group.position = group.view.position(last)  # after the pushes: see idle_position

    def _drop(self, group: Group) -> None:
        with self._condition:
            members = list(group.members)
            group.members.clear()
        for member in members:
            member.end()

    def _render(self, session: Session, view: LiveView, looker: Looker, base_url: str,
                changes: Sequence[ChangeRow], prime: bool = False) -> list[Event]:
        """``view``'s events in a request context as ``looker`` (its session lent to it)."""
        with self.app.test_request_context("/events", base_url=base_url):
            g.user = looker
            g.csrf_token = CSRF_MARKER
            g.db_session = session  # what context processors read with get_session()
            g.live_round = self._round
            try:
                if prime:
                    view.prime(session)
                return list(view.events(session, changes)) if changes or view.ticks else []
            finally:
                g.pop("db_session", None)  # lent, not the context's to close

    def _backlog(self, session: Session, after: int) -> tuple[list[ChangeRow], int] | None:
        """What a stream joining at ``after`` has not seen, and the id that brings it to
        (None: too much, reload)."""
        cursor = self._cursor(session)
        if after >= self._covered_after:
            now = self.clock()
            rows = [s.row for s in self._history if s.row.id > after or (
                s.late and s.row.id > after - LOOKBACK and now - s.at < GAP_GRACE)]
        else:  # older than what we kept: read it once
            catch_up = ChangeCursor(after)
            catch_up.prime(session)
            rows = catch_up.fetch(session, limit=MAX_BACKLOG)
            self.feed_reads += 1
        if len(rows) >= MAX_BACKLOG:
            return None
        return rows, max([cursor.last, after] + [r.id for r in rows])

    def _attach(self, session: Session, subscriber: Subscriber) -> None:
        if subscriber.left:
            return
        backlog = self._backlog(session, subscriber.after)
        if backlog is None:
            subscriber.end()
            return
        rows, seen = backlog
        view = subscriber.view
        mine = [c for c in rows if c.kind in view.kinds]
        events = self._render(session, view, subscriber.looker, subscriber.base_url, mine,
                              prime=True)
        position = view.position(seen)
        if events or rows:
            subscriber.push("".join(sse(name, data) for name, data in events)
                            + sse(event_id=position))
        key = (view.key(), subscriber.looker, subscriber.base_url)
        with self._condition:
            if subscriber.left:
                return
            group = next((grp for grp in self._groups
                          if (grp.view.key(), grp.looker, grp.base_url) == key), None)
            if group is None:
                group = Group(view, subscriber.looker, subscriber.base_url, position)
                self._groups.append(group)
            group.members.add(subscriber)
            subscriber.group = group
        subscriber.attached.set()


def get_reader(app: Flask, session_factory: sessionmaker[Session],
               subscribe: Callable[[Callable[[frozenset[str] | None], None]], None]
               ) -> ChangeReader:
    """The app's reader, created on first use (``subscribe`` hooks it to the hub)."""
    reader = app.extensions.get(EXTENSION)
    if reader is None:
        with _create_lock:
            reader = app.extensions.get(EXTENSION)
            if reader is None:
                reader = ChangeReader(app, session_factory)
                subscribe(reader.notified)
                app.extensions[EXTENSION] = reader
    return reader


_create_lock = threading.Lock()
