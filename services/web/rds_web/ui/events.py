"""Live pages: one server-sent event stream per open page.

``GET /events?view=board&after=<change id>`` follows the ``changes`` table
from the id the page was rendered at (a reconnect resumes from the
``Last-Event-ID`` the browser sends) and pushes what the page shows:

* ``row``: ``{id, html, insert}``, a release's board row rendered again;
  board and release pages (``view=board``, filters ``project``, ``status``,
  ``release``);
* ``build`` / ``log``: the header of a build page and the new lines of its
  log, as HTML (``view=build&task=<id>``; the event id is then
  ``<change id>.<log chunk id>``);
* ``agents``: the agents table (``view=agents``);
* ``reload``: too much happened (a long disconnect): reload the page.

Each stream holds one gunicorn thread while it is open, never a database
connection while it waits: it sleeps on the process's LISTEN/NOTIFY hub.
A stream ends after ``UI_STREAM_SECONDS`` (the browser reconnects at once
and misses nothing); with ``UI_MAX_STREAMS`` streams open in a process, a
new one is told to retry in a few seconds, so pages never take every
thread from ordinary requests.
"""
import json
import select
import socket
import threading
import time

from flask import Blueprint, Response, current_app, g, render_template, request, stream_with_context

from rds_control import board, logs
from rds_control.agents import list_agents
from rds_control.feed import ChangeCursor
from rds_control.users import can
from rds_db.models import Task
from rds_web.changes import get_hub
from rds_web.db import close_session, get_session
from rds_web.ui import builds
from rds_web.ui.ansi import AnsiRenderer

bp = Blueprint("events", __name__)

#: A resumed stream this far behind tells the page to reload instead.
MAX_BACKLOG = 2000
#: Wait at most this long for a NOTIFY before looking anyway (lost notifications).
POLL_SECONDS = 5.0

_open_streams = 0
_open_lock = threading.Lock()


def _setting(name):
    return current_app.config[name]  # from rds_settings (rds_web.config)


def parse_event_id(text):
    """``"12"`` or ``"12.345"`` → (change id, log chunk id); bad input → (0, 0)."""
    change, _, log = (text or "").partition(".")
    try:
        return max(int(change), 0), max(int(log or 0), 0)
    except ValueError:
        return 0, 0


def sse(event=None, data=None, event_id=None, retry=None):
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


class BoardView:
    """Rows of the releases that changed, for a board or a release page."""

    def __init__(self, args):
        self.project = args.get("project") or None
        self.status = args.get("status") or None
        try:
            self.release = int(args["release"]) if args.get("release") else None
        except ValueError:
            self.release = None
        self.first_page = args.get("first", "1") in ("", "1")

    def events(self, session, changes):
        ids = {c.release_id for c in changes if c.kind in ("release", "task") and c.release_id}
        if self.release is not None:
            ids &= {self.release}
        for release_id in sorted(ids):
            row = board.board_row(session, release_id, g.get("user"))
            if row is None:
                continue
            shown = board.matches(row.release, self.project, self.status)
            if not shown and self.release is None:
                continue
            html = render_template("_row.html", row=row, stream=True)
            yield "row", {"id": release_id, "html": html,
                          "insert": shown and self.first_page and self.release is None}


class BuildView:
    """The header and new log lines of one build page."""

    def __init__(self, args, log_after):
        self.task_id = args.get("task", "")
        self.log_after = log_after
        self.renderer = AnsiRenderer()
        self.release_id = None

    def prime(self, session):
        task = session.get(Task, self.task_id)
        self.release_id = task.release_id if task is not None else None
        _, tail = logs.tail_chunks(session, self.task_id, logs.PAGE_BYTES)
        for chunk_id, text in tail:  # the part the page shows, so open colours carry over
            if chunk_id > self.log_after:
                break
            self.renderer.feed(text)

    def events(self, session, changes):
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


class AgentsView:
    """The agents table: on heartbeats (at most every 2 s), and every 10 s anyway,
    since an agent going offline is the absence of a change."""

    def __init__(self):
        self.started = time.monotonic()
        self.sent = None

    def events(self, session, changes):
        now = time.monotonic()
        beat = any(c.kind == "agent" for c in changes)
        if ((beat and (self.sent is None or now - self.sent > 2))
                or now - (self.sent or self.started) > 10):
            self.sent = now
            yield "agents", {"html": render_template("_agents_table.html",
                                                     agents=list_agents(session))}


def _view(name, args, log_after):
    if name == "build":
        return BuildView(args, log_after)
    if name == "agents":
        return AgentsView()
    return BoardView(args)


def client_gone(environ):
    """A check that the browser closed the connection (under gunicorn; else never).

    Without it a closed tab would hold its thread until the next write.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: False

    def gone():
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except ValueError:  # e.g. TLS sockets cannot peek: rely on writes failing
            return False
        except OSError:
            return True
    return gone


def _wait(hub, seen, seconds, gone):
    """Sleep until a change newer than ``seen``, ``seconds`` pass or the client leaves."""
    deadline = time.monotonic() + seconds
    while not gone():
        left = deadline - time.monotonic()
        if left <= 0 or hub.wait(seen, min(left, 1.0)) > seen:
            return


def _follow(view, cursor, hub, seconds, keepalive, gone=lambda: False):
    """Yield SSE text for ``view`` until ``seconds`` have passed or the client leaves."""
    deadline = time.monotonic() + seconds
    last_write = time.monotonic()
    session = get_session()
    try:
        cursor.prime(session)
        if hasattr(view, "prime"):
            view.prime(session)
    finally:
        close_session()
    yield sse(retry=1000)
    while time.monotonic() < deadline and not gone():
        seen = hub.latest()
        session = get_session()
        try:
            changes = cursor.fetch(session, limit=MAX_BACKLOG)
            if len(changes) >= MAX_BACKLOG:
                yield sse("reload", {}, event_id=cursor.last)
                return
            out = [(name, data) for name, data in view.events(session, changes)]
        finally:
            close_session()
        for name, data in out:
            yield sse(name, data)
        if changes:
            event_id = cursor.last
            if isinstance(view, BuildView):
                event_id = "%d.%d" % (cursor.last, view.log_after)
            yield sse(event_id=event_id)  # no event: only moves the resume point
        if out or changes:
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= keepalive:
            yield ": keepalive\n\n"
            last_write = time.monotonic()
        wait = 0.5 if cursor.waiting else min(POLL_SECONDS, keepalive)
        _wait(hub, seen, max(min(wait, deadline - time.monotonic()), 0), gone)


@bp.get("/events")
def stream():
    """Stream a page's live changes as server-sent events (resumes from Last-Event-ID)."""
    user = g.get("user")
    if user is None or not can(user, "view"):
        return Response("log in first\n", status=401, mimetype="text/plain")
    change_id, log_after = parse_event_id(
        request.headers.get("Last-Event-ID") or request.args.get("after"))
    view = _view(request.args.get("view", "board"), request.args, log_after)
    hub = get_hub()
    hub.start()
    gone = client_gone(request.environ)
    limit = int(_setting("UI_MAX_STREAMS"))
    seconds = float(_setting("UI_STREAM_SECONDS"))
    keepalive = float(_setting("UI_KEEPALIVE_SECONDS"))

    def generate():
        global _open_streams
        with _open_lock:
            busy = _open_streams >= limit
            if not busy:
                _open_streams += 1
        if busy:  # every stream slot taken: come back in a few seconds, from the same point
            yield sse(retry=5000)
            return
        try:
            yield from _follow(view, ChangeCursor(change_id), hub, seconds, keepalive, gone)
        finally:
            with _open_lock:
                _open_streams -= 1

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
