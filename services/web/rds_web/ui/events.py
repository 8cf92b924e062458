"""Live pages: one server-sent event stream per open page.

``GET /events?view=board&after=<change id>`` follows the ``changes`` table
from the id the page was rendered at (a reconnect resumes from the
``Last-Event-ID`` the browser sends) and pushes what the page shows:

* ``row``: ``{id, html, insert}``, a release's board row rendered again;
  board and release pages (``view=board``, filters ``project``, ``status``,
  ``release``);
* ``drift``: ``{html}``, the board's drift banners rendered again
  (``_drift_banners.html``), when a project the board shows changes (drift
  found, changed or resolved records a ``project`` change) and the banners
  differ from what the stream last sent;
* ``servers``: ``{html}``, a project page's servers table (current, drift)
  rendered again, and ``drift`` for its banners, when the project changes and
  they differ from what was sent last (``view=project&project=<name>``);
* ``build`` / ``log``: the header of a build page and the new lines of its
  log, as HTML (``view=build&task=<id>``; the event id is then
  ``<change id>.<log chunk id>``);
* ``agents``: the agents table (``view=agents``);
* ``reload`` on the migrations page when a migration changes (``view=migrations``);
* ``reload``: too much happened (a long disconnect, a client too slow to
  read): reload the page.

The views below say what a page shows; the process's one change reader
(``rds_web.ui.fanout``) reads each change once, renders each view once for
every page that shows the same thing to the same role, and queues the text
for the streams. Each stream holds one gunicorn thread while it is open and
never a database connection. A stream ends after ``UI_STREAM_SECONDS`` (the
browser reconnects at once and misses nothing); with ``UI_MAX_STREAMS``
streams open in a process, a new one is told to retry in 5 seconds (the
page's live indicator goes off until a slot is free), so pages never take
every thread from ordinary requests.
"""
import select
import socket
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request, stream_with_context
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm import Session

from rds_control import board, logs
from rds_control.agents import list_agents
from rds_control.changes import ChangeRow
from rds_control.users import can
from rds_db.models import Project, Task
from rds_web.change_hub import get_hub
from rds_web.db import close_session, session_factory
from rds_web.ui import builds, gc
from rds_web.ui.ansi import AnsiRenderer
from rds_web.ui.fanout import (
    CSRF_MARKER,
    Event,
    LiveView,
    Looker,
    Subscriber,
    get_reader,
    shared,
    sse,
)

bp = Blueprint("events", __name__)

_open_streams = 0
_open_lock = threading.Lock()


def _setting(name: str) -> Any:
    return current_app.config[name]  # from rds_settings (rds_web.config)


def parse_event_id(text: str | None) -> tuple[int, int]:
    """``"12"`` or ``"12.345"`` → (change id, log chunk id); bad input → (0, 0)."""
    change, _, log = (text or "").partition(".")
    try:
        return max(int(change), 0), max(int(log or 0), 0)
    except ValueError:
        return 0, 0


class BoardView(LiveView):
    """Rows of the releases that changed, for a board or a release page; and the
    board's drift banners when a project it shows changes."""

    kinds = frozenset({"release", "task", "project"})

    def __init__(self, args: Mapping[str, str]) -> None:
        self.project = args.get("project") or None
        self.status = args.get("status") or None
        try:
            self.release = int(args["release"]) if args.get("release") else None
        except ValueError:
            self.release = None
        self.first_page = args.get("first", "1") in ("", "1")
        self.project_id: int | None = None
        #: The banners last sent (None: none yet; the page's own are not known here).
        self.banners: str | None = None

    def key(self) -> Hashable:
        return ("board", self.project, self.status, self.release, self.first_page)

    def prime(self, session: Session) -> None:
        if self.project:
            project = session.query(Project).filter_by(name=self.project).one_or_none()
            self.project_id = project.id if project is not None else -1

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        yield from self._drift(session, changes)
        ids = {c.release_id for c in changes if c.kind in ("release", "task") and c.release_id}
        if self.release is not None:
            ids &= {self.release}
        for release_id in sorted(ids):  # each row read and rendered once for all filters
            row = shared(("row", release_id),
                         partial(board.board_row, session, release_id, g.get("user")))
            if row is None:
                continue
            shown = board.matches(row.release, self.project, self.status)
            if not shown and self.release is None:
                continue
            html = shared(("row.html", release_id),
                          partial(render_template, "_row.html", row=row, stream=True))
            yield "row", {"id": release_id, "html": html,
                          "insert": shown and self.first_page and self.release is None}

    def _drift(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        """The banners again, if a project this board shows changed and they differ."""
        if self.release is not None or not _project_changed(changes, self.project_id):
            return
        html = _drift_banners(session, self.project)
        if html != self.banners:
            self.banners = html
            yield "drift", {"html": html}


def _project_changed(changes: Sequence[ChangeRow], project_id: int | None) -> bool:
    """A change of the project (None: of any project)."""
    return any(c.kind == "project" and project_id in (None, c.project_id) for c in changes)


def _drift_banners(session: Session, project: str | None) -> str:
    """The drift banners of one project (None: all), rendered once per round."""
    return shared(("drift", project), lambda: render_template(
        "_drift_banners.html", drifting=gc.drifting(session, project)))


class ProjectView(LiveView):
    """A project page's drift banners and servers table, when the project changes
    (a drift check, a server's ``current`` read again)."""

    kinds = frozenset({"project"})

    def __init__(self, args: Mapping[str, str]) -> None:
        self.project = args.get("project", "")
        self.project_id = -1
        #: What was sent last, by event (none yet: the page's own are not known here).
        self.sent: dict[str, str] = {}

    def key(self) -> Hashable:
        return ("project", self.project)

    def prime(self, session: Session) -> None:
        project = session.query(Project).filter_by(name=self.project).one_or_none()
        self.project_id = project.id if project is not None else -1

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        if not _project_changed(changes, self.project_id):
            return
        project = session.get(Project, self.project_id)
        if project is None:  # deleted: nothing left to update
            return
        fresh = {"drift": _drift_banners(session, self.project),
                 "servers": render_template("_servers_table.html", project=project)}
        for name, html in fresh.items():
            if self.sent.get(name) != html:
                self.sent[name] = html
                yield name, {"html": html}


class BuildView(LiveView):
    """The header and new log lines of one build page."""

    kinds = frozenset({"release", "task", "log", "migration"})  # those that name a task

    def __init__(self, args: Mapping[str, str], log_after: int) -> None:
        self.task_id = args.get("task", "")
        self.log_after = log_after
        self.renderer = AnsiRenderer()
        self.release_id: int | None = None

    def key(self) -> Hashable:
        return ("build", self.task_id, self.log_after)

    def position(self, change_id: int) -> str:
        return "%d.%d" % (change_id, self.log_after)

    def prime(self, session: Session) -> None:
        task = session.get(Task, self.task_id)
        self.release_id = task.release_id if task is not None else None
        _, tail = logs.tail_chunks(session, self.task_id, logs.PAGE_BYTES)
        for chunk_id, text in tail:  # the part the page shows, so open colours carry over
            if chunk_id > self.log_after:
                break
            self.renderer.feed(text)

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        mine = [c for c in changes if c.task_id == self.task_id
                or (c.release_id is not None and c.release_id == self.release_id
                    and c.kind == "release")]
        if any(c.kind == "log" for c in mine):
            chunks = builds.log_chunks(session, self.task_id, self.log_after)
            if chunks:
                self.log_after = chunks[-1][0]
                yield "log", {"html": "".join(self.renderer.feed(t) for _, t in chunks)}
        if any(c.kind != "log" for c in mine):
            task = session.get(Task, self.task_id)
            if task is not None:
                html = render_template("_build_header.html",
                                       **builds.header_context(session, task))
                yield "build", {"html": html, "status": task.status}


class AgentsView(LiveView):
    """The agents table: on heartbeats (at most every 2 s), and every 10 s anyway,
    since an agent going offline is the absence of a change."""

    kinds = frozenset({"agent"})
    ticks = True

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.sent: float | None = None

    def key(self) -> Hashable:
        return ("agents",)

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        now = self.clock()
        beat = any(c.kind == "agent" for c in changes)
        if ((beat and (self.sent is None or now - self.sent > 2))
                or now - (self.sent or self.started) > 10):
            self.sent = now
            yield "agents", {"html": render_template("_agents_table.html",
                                                     agents=list_agents(session))}


class MigrationsView(LiveView):
    """The migrations page: reload it when a migration of its project changes."""

    kinds = frozenset({"migration"})

    def __init__(self, args: Mapping[str, str]) -> None:
        self.project = args.get("project") or None
        self.project_id: int | None = None

    def key(self) -> Hashable:
        return ("migrations", self.project)

    def prime(self, session: Session) -> None:
        if self.project:
            project = session.query(Project).filter_by(name=self.project).one_or_none()
            self.project_id = project.id if project is not None else -1

    def events(self, session: Session, changes: Sequence[ChangeRow]) -> Iterator[Event]:
        if any(c.kind == "migration" and self.project_id in (None, c.project_id)
               for c in changes):
            yield "reload", {}


def _view(name: str, args: Mapping[str, str], log_after: int) -> LiveView:
    if name == "migrations":
        return MigrationsView(args)
    if name == "build":
        return BuildView(args, log_after)
    if name == "agents":
        return AgentsView()
    if name == "project":
        return ProjectView(args)
    return BoardView(args)


def client_gone(environ: Mapping[str, Any]) -> Callable[[], bool]:
    """A check that the browser closed the connection (under gunicorn; else never).

    Without it a closed tab would hold its thread until the next write.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: False

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except ValueError:  # e.g. TLS sockets cannot peek: rely on writes failing
            return False
        except OSError:
            return True
    return gone


def follow(subscriber: Subscriber, csrf_token: str, seconds: float, keepalive: float,
           gone: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Yield the SSE text queued for ``subscriber`` until ``seconds`` pass, the client
    leaves or the stream is told to reload (the caller joins and leaves the reader)."""
    deadline = time.monotonic() + seconds
    last_write = time.monotonic()
    yield sse(retry=1000)
    while not gone():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        items = subscriber.take(min(left, 1.0))  # wake each second to notice a closed tab
        for text in items:
            yield text.replace(CSRF_MARKER, csrf_token)
        if items:
            last_write = time.monotonic()
            if subscriber.ended:
                return
        elif time.monotonic() - last_write >= keepalive:
            position = subscriber.idle_position()  # moves the resume point past quiet changes
            yield (sse(event_id=position) if position else "") + ": keepalive\n\n"
            last_write = time.monotonic()


@bp.get("/events")
def stream() -> Response:
    """Stream a page's live changes as server-sent events (resumes from Last-Event-ID)."""
    user = g.get("user")
    if user is None or not can(user, "view"):
        return Response("log in first\n", status=401, mimetype="text/plain")
    change_id, log_after = parse_event_id(
        request.headers.get("Last-Event-ID") or request.args.get("after"))
    view = _view(request.args.get("view", "board"), request.args, log_after)
    hub = get_hub()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    reader = get_reader(app, session_factory(), hub.add_listener)
    hub.start()
    # links in live HTML are relative: pages under the same script root share renders
    subscriber = Subscriber(view, change_id, Looker(role=str(user.role)),
                            "http://localhost" + request.script_root)
    csrf_token = generate_csrf()  # this session's token, swapped into the shared renders
    close_session()  # the login check's connection: a stream holds none while it is open
    gone = client_gone(request.environ)
    limit = int(_setting("UI_MAX_STREAMS"))
    seconds = float(_setting("UI_STREAM_SECONDS"))
    keepalive = float(_setting("UI_KEEPALIVE_SECONDS"))

    def generate() -> Iterator[str]:
        global _open_streams
        with _open_lock:
            busy = _open_streams >= limit
            if not busy:
                _open_streams += 1
        if busy:  # every stream slot taken: come back in a few seconds, from the same point
            yield sse(retry=5000)
            return
        reader.join(subscriber)
        try:
            yield from follow(subscriber, csrf_token, seconds, keepalive, gone)
        finally:
            reader.leave(subscriber)
            with _open_lock:
                _open_streams -= 1

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
