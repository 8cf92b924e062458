"""The process's one change reader: one feed read and one render per view for many streams.

Subscribers join the app's reader directly (as ``/events`` does), on the real
database and LISTEN/NOTIFY hub; the SSE route itself is tested in
``test_events.py``.
"""
import json
import re
import threading
from collections.abc import Iterator

import pytest
from flask import Flask, template_rendered
from markupsafe import escape
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from rds_control import drift, projects
from rds_control.changes import last_change_id, record_change, release_changed
from rds_db.models import ReleaseRequest, Server
from rds_web.change_hub import get_hub
from rds_web.db import session_factory as app_session_factory
from rds_web.ui import fanout
from rds_web.ui.events import BoardView, ProjectView
from rds_web.ui.fanout import CSRF_MARKER, RELOAD, ChangeReader, Looker, Subscriber
from tests.web.web_support import in_tx, logged_in

BASE = "http://localhost"
WAIT = 10.0


@pytest.fixture
def reader(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChangeReader]:
    monkeypatch.setattr(fanout, "POLL_SECONDS", 60.0)  # no timed look in the middle of a test
    with app.app_context():
        hub = get_hub()
        reader = fanout.get_reader(app, app_session_factory(), hub.add_listener)
        hub.start()
    yield reader


@pytest.fixture
def feed_queries(app: Flask) -> Iterator[list[str]]:
    """Every statement that reads the ``changes`` table, from the app's engine."""
    engine = app.extensions["rds_db"].kw["bind"]
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if re.search(r"\bFROM changes\b", statement):
            seen.append(statement)
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def renders(app: Flask) -> Iterator[list[str]]:
    names: list[str] = []

    def rendered(sender: Flask, template: object, context: dict, **extra: object) -> None:
        names.append(getattr(template, "name", ""))
    template_rendered.connect(rendered, app)
    yield names
    template_rendered.disconnect(rendered, app)


def board(reader: ChangeReader, after: int, role: str = "viewer", limit: int = 100,
          **filters: str) -> Subscriber:
    subscriber = Subscriber(BoardView(filters), after, Looker(role), BASE, limit=limit)
    reader.join(subscriber)
    return subscriber


def attached(*subscribers: Subscriber) -> None:
    for subscriber in subscribers:
        assert subscriber.attached.wait(WAIT)


def touch(session_factory: object, release_id: int) -> int:
    """Record a change of the release (its row renders its current state)."""
    return in_tx(session_factory, lambda s: release_changed(
        s, s.get(ReleaseRequest, release_id)).id)


def rows_until(subscriber: Subscriber, release_id: int) -> list[str]:
    """What the stream is sent until the row of ``release_id`` arrives."""
    got: list[str] = []
    while not any('"id":%d,' % release_id in text for text in got):
        items = subscriber.take(WAIT)
        assert items, "nothing reached the stream within %ss" % WAIT
        got += items
    return got


def test_a_change_reaches_100_streams_with_one_feed_read_and_one_render_per_role(
        reader, feed_queries, renders, make_project, make_release, session_factory):
    project = make_project()
    release = make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    filters = [{"project": project}, {}, {"release": str(release)}, {"status": "installed"}]
    viewers = [board(reader, after, "viewer", **filters[n % 4]) for n in range(50)]
    deployers = [board(reader, after, "deployer", **filters[n % 4]) for n in range(50)]
    attached(*viewers, *deployers)
    assert reader.wait_idle(WAIT)
    feed_queries.clear()
    renders.clear()

    touch(session_factory, release)
    seen = {id(s): "".join(rows_until(s, release)) for s in viewers + deployers}

    assert len(feed_queries) == 1
    assert renders.count("_row.html") == 2  # one per role, not per stream nor per filter
    for subscriber in deployers:  # a deployer's row offers to activate ...
        assert 'data-action=\\"activate\\"' in seen[id(subscriber)]
    for subscriber in viewers:  # ... a viewer's, rendered apart, does not
        assert 'data-action=\\"activate\\"' not in seen[id(subscriber)]
    for subscriber in viewers + deployers:
        reader.leave(subscriber)


def test_a_slow_stream_is_told_to_reload_and_does_not_hold_up_the_others(
        reader, make_project, make_release, session_factory):
    project = make_project()
    first, second = make_release.installed(project), make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    slow = board(reader, after, limit=1, project=project)  # never reads what it is sent
    fast = [board(reader, after, project=project) for _ in range(5)]
    attached(slow, *fast)

    touch(session_factory, first)
    for subscriber in fast:
        rows_until(subscriber, first)
    touch(session_factory, second)
    for subscriber in fast:
        rows_until(subscriber, second)

    assert slow.ended
    assert slow.take(0)[-1] == RELOAD
    assert slow.group is None or slow not in slow.group.members
    for subscriber in fast:
        assert not subscriber.ended
        reader.leave(subscriber)
    reader.leave(slow)


def test_each_stream_gets_its_filter(reader, make_project, make_release, session_factory):
    mine, other = make_project(), make_project()
    mine_release, other_release = make_release.installed(mine), make_release.installed(other)
    after = in_tx(session_factory, last_change_id)
    follows_mine = board(reader, after, project=mine)
    follows_other = board(reader, after, project=other)
    follows_release = board(reader, after, release=str(mine_release))
    attached(follows_mine, follows_other, follows_release)

    touch(session_factory, other_release)
    touch(session_factory, mine_release)
    got_mine = "".join(rows_until(follows_mine, mine_release))
    got_release = "".join(rows_until(follows_release, mine_release))
    got_other = "".join(rows_until(follows_other, other_release))

    assert '"id":%d,' % other_release not in got_mine + got_release
    assert '"id":%d,' % mine_release not in got_other
    for subscriber in (follows_mine, follows_other, follows_release):
        reader.leave(subscriber)


def test_heartbeats_wake_no_board_stream(app, reader, feed_queries, make_project,
                                         make_release, session_factory):
    project = make_project()
    release = make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    streams = [board(reader, after, project=project) for _ in range(10)]
    attached(*streams)
    assert reader.wait_idle(WAIT)
    beats = threading.Event()

    def heard(kinds: frozenset[str] | None) -> None:
        if kinds and "agent" in kinds:
            beats.set()
    with app.app_context():
        hub = get_hub()
    hub.add_listener(heard)  # called after the reader's own callback
    feed_queries.clear()

    for _ in range(3):
        in_tx(session_factory, record_change, "agent")
    assert beats.wait(WAIT)
    hub.remove_listener(heard)
    assert reader.wait_idle(WAIT)  # would first read the feed, had a heartbeat woken it

    assert feed_queries == []
    assert all(s.take(0) == [] for s in streams)
    touch(session_factory, release)  # the next change that concerns them still arrives
    for subscriber in streams:
        rows_until(subscriber, release)
        reader.leave(subscriber)
    assert len(feed_queries) == 1


def test_each_stream_sends_its_own_csrf_token_in_shared_rows(
        app, make_project, make_release, session_factory, deployer, monkeypatch):
    monkeypatch.setitem(app.config, "UI_STREAM_SECONDS", 2)
    project = make_project()
    release = make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    clients = [logged_in(app, deployer), logged_in(app, deployer)]
    bodies: list[str] = []
    started = threading.Barrier(3)

    def follow(client: object) -> None:
        response = client.get("/events?view=board&after=%d&project=%s"  # type: ignore
                              % (after, project), buffered=False)
        chunks = (c.decode() if isinstance(c, bytes) else c for c in response.response)
        text = next(chunks)  # the stream has joined the reader
        started.wait()
        for chunk in chunks:
            text += chunk
            if '"id":%d,' % release in text:
                break
        response.close()
        bodies.append(text)
    threads = [threading.Thread(target=follow, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    started.wait()
    assert app.extensions[fanout.EXTENSION].wait_idle(WAIT)  # both attached: one shared render
    touch(session_factory, release)
    for thread in threads:
        thread.join()

    tokens = [set(re.findall(r'name=\\"csrf_token\\" value=\\"([^\\"]+)', b)) for b in bodies]
    assert all(len(found) == 1 for found in tokens), bodies
    assert tokens[0] != tokens[1]  # the same render, each session's own token
    assert not any(CSRF_MARKER in body for body in bodies)


class BrokenView(BoardView):
    def key(self) -> tuple[str]:
        return ("broken",)

    def events(self, session, changes):
        raise RuntimeError("a template bug")


def test_a_view_that_fails_reloads_its_own_pages_only(reader, make_project, make_release,
                                                      session_factory):
    project = make_project()
    release = make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    broken = Subscriber(BrokenView({"project": project}), after, Looker("viewer"), BASE)
    reader.join(broken)
    fine = board(reader, after, project=project)
    attached(broken, fine)

    touch(session_factory, release)
    rows_until(fine, release)

    assert broken.take(WAIT) == [RELOAD] and broken.ended
    touch(session_factory, release)
    rows_until(fine, release)  # the reader goes on
    reader.leave(fine)
    reader.leave(broken)


def test_a_stream_too_far_behind_is_told_to_reload(reader, session_factory, monkeypatch):
    after = in_tx(session_factory, last_change_id)
    for _ in range(6):
        in_tx(session_factory, record_change, "agent")
    monkeypatch.setattr(fanout, "MAX_BACKLOG", 5)
    behind = board(reader, after)
    near = board(reader, after + 2)

    assert behind.take(WAIT) == [RELOAD] and behind.ended
    attached(near)
    assert not near.ended
    reader.leave(behind)
    reader.leave(near)


def record_drift(session_factory: object, project: str, items: list[dict[str, str]]) -> bool:
    """What a drift check records for the project's first server (audit and change)."""
    def write(session: Session) -> bool:
        server = session.scalars(select(Server).where(
            Server.project_id == projects.get_project(session, project).id)
            .order_by(Server.id)).first()
        return drift.record(session, server, items, "gc")
    return in_tx(session_factory, write)


def drift_banners(subscriber: Subscriber) -> str:
    """The banners of the next ``drift`` event sent to the stream."""
    while True:
        items = subscriber.take(WAIT)
        assert items, "no drift event reached the stream within %ss" % WAIT
        for block in "".join(items).split("\n\n"):
            if block.startswith("event: drift\n"):
                return json.loads(block.split("data: ", 1)[1])["html"]


def test_drift_pushes_the_banners_to_the_boards_that_show_the_project(
        app, reader, make_project, make_release, session_factory):
    project, other = make_project(), make_project()
    release = make_release.installed(project)
    after = in_tx(session_factory, last_change_id)
    mine, everything = board(reader, after, project=project), board(reader, after)
    elsewhere, release_page = board(reader, after, project=other), board(
        reader, after, release=str(release))
    streams = (mine, everything, elsewhere, release_page)
    attached(*streams)
    detail = "current points at releases/1.00.009.9, rds thinks 1.00.002.2 is live"

    assert record_drift(session_factory, project, [{"kind": "current", "detail": detail}])
    found_mine, found_all = drift_banners(mine), drift_banners(everything)
    assert reader.wait_idle(WAIT)
    assert elsewhere.take(0) == [] and release_page.take(0) == []
    for html in (found_mine, found_all):
        assert 'id="drift-banners"' in html and "banner-drift" in html
        assert project in html and str(escape(detail)) in html

    heard = threading.Event()
    with app.app_context():
        hub = get_hub()

    def listener(kinds: frozenset[str] | None) -> None:
        if kinds and "project" in kinds:
            heard.set()
    hub.add_listener(listener)  # called after the reader's own callback
    in_tx(session_factory, record_change, "project",
          project_id=in_tx(session_factory, lambda s: projects.get_project(s, project).id))
    assert heard.wait(WAIT)
    hub.remove_listener(listener)
    assert reader.wait_idle(WAIT)  # the project changed, its banners did not: nothing sent
    assert [text for text in mine.take(0) if "event: drift" in text] == []

    assert record_drift(session_factory, project, [])  # resolved: the banner goes
    cleared = drift_banners(mine)
    assert 'id="drift-banners"' in cleared and "banner-drift" not in cleared
    for subscriber in streams:
        reader.leave(subscriber)


def test_a_project_page_gets_its_drift_banners_and_servers_table(
        reader, make_project, session_factory):
    project, other = make_project(), make_project()
    after = in_tx(session_factory, last_change_id)
    page = Subscriber(ProjectView({"project": project}), after, Looker("viewer"), BASE)
    elsewhere = Subscriber(ProjectView({"project": other}), after, Looker("viewer"), BASE)
    reader.join(page)
    reader.join(elsewhere)
    attached(page, elsewhere)
    detail = "releases/zz is not a release rds knows (or one it removed)"

    assert record_drift(session_factory, project, [{"kind": "unknown", "detail": detail}])
    got = ""
    while not ("event: drift" in got and "event: servers" in got):
        items = page.take(WAIT)
        assert items, "the project page was sent nothing within %ss" % WAIT
        got += "".join(items)
    assert reader.wait_idle(WAIT)
    assert elsewhere.take(0) == []
    banners = json.loads(got.split("event: drift\ndata: ", 1)[1].split("\n", 1)[0])["html"]
    table = json.loads(got.split("event: servers\ndata: ", 1)[1].split("\n", 1)[0])["html"]
    assert "banner-drift" in banners and str(escape(detail)) in banners
    assert table.strip().startswith('<table class="compact" id="servers">')
    assert 'class="drift-item"' in table and str(escape(detail)) in table

    assert record_drift(session_factory, project, [])
    assert "banner-drift" not in drift_banners(page)
    reader.leave(page)
    reader.leave(elsewhere)
