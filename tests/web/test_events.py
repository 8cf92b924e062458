"""Live updates: the server-sent event stream and the change cursor behind it."""
import json
import re
import threading
import time
from datetime import UTC, datetime

import pytest

from rds_control.changes import ChangeCursor, last_change_id, record_change
from rds_db.models.changes import notify_payload, parse_notify_payload
from rds_web.ui.events import parse_event_id
from tests.web.web_support import Agent, heartbeat, in_tx


def events(body):
    """Parse an SSE body into (id, event, data) for each block that has an event."""
    found, last_id = [], None
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "id" in fields:
            last_id = fields["id"]
        if "event" in fields:
            found.append((last_id, fields["event"], json.loads(fields.get("data", "{}"))))
    return found, last_id


def stream(client, url, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    return events(response.get_data(as_text=True))


def now_id(session_factory):
    return in_tx(session_factory, last_change_id)


def test_rows_changed_since_the_page_was_rendered_are_sent(as_viewer, make_project,
                                                          make_release, session_factory):
    project = make_project()
    after = now_id(session_factory)
    release = make_release.installed(project)
    found, last_id = stream(as_viewer, "/events?view=board&after=%d&project=%s"
                            % (after, project))
    rows = [data for _, name, data in found if name == "row"]
    assert rows and all(row["id"] == release for row in rows)
    assert len(rows) == 1  # the burst of changes is sent as one row
    assert rows[0]["insert"] is True
    assert 'data-status="installed"' in rows[0]["html"]
    assert int(last_id) >= now_id(session_factory) - 1


def test_the_stream_resumes_from_last_event_id(as_viewer, make_project, make_release,
                                               session_factory):
    project = make_project()
    make_release.installed(project)
    seen = now_id(session_factory)
    found, _ = stream(as_viewer, "/events?view=board&after=0&project=%s" % project,
                      **{"Last-Event-ID": str(seen)})
    assert [name for _, name, _ in found] == []


def test_other_projects_are_not_sent_and_filtered_rows_are_not_inserted(
        as_viewer, make_project, make_release, session_factory):
    project, other = make_project(), make_project()
    after = now_id(session_factory)
    make_release.installed(other)
    release = make_release.installed(project)
    found, _ = stream(as_viewer, "/events?view=board&after=%d&project=%s" % (after, project))
    assert {data["id"] for _, name, data in found if name == "row"} == {release}
    found, _ = stream(as_viewer, "/events?view=board&after=%d&project=%s&first=0"
                      % (after, project))
    assert [data["insert"] for _, name, data in found if name == "row"] == [False]


def test_a_change_reaches_an_open_stream_within_a_second(app, as_viewer, make_project,
                                                         make_release, session_factory,
                                                         monkeypatch):
    monkeypatch.setitem(app.config, "UI_STREAM_SECONDS", 5)
    project = make_project()
    release = make_release.installed(project)
    after = now_id(session_factory)
    done = {}

    def activate_soon():
        time.sleep(0.4)
        done["at"] = time.monotonic()
        make_release.activate(release)
    worker = threading.Thread(target=activate_soon)
    worker.start()
    response = as_viewer.get("/events?view=board&after=%d&project=%s" % (after, project),
                             buffered=False)
    received = None
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if 'data-status=\\"used\\"' in text:
            received = time.monotonic()
            break
    response.close()
    worker.join()
    assert received is not None and received - done["at"] < 1.0


def test_release_page_stream_follows_one_release(as_viewer, make_project, make_release,
                                                 session_factory):
    project = make_project()
    after = now_id(session_factory)
    first = make_release.installed(project)
    make_release.installed(project)
    found, _ = stream(as_viewer, "/events?view=board&after=%d&release=%d" % (after, first))
    assert {data["id"] for _, name, data in found} == {first}
    assert not any(data["insert"] for _, _, data in found)


def test_build_stream_sends_new_log_lines_with_colours_carried_over(
        as_viewer, make_project, make_release, session_factory):
    project = make_project()
    _, task, _ = make_release.create(project)
    agent = Agent(session_factory, task)
    agent.start()
    agent.log("first \x1b[3")  # cut inside an escape sequence
    page = as_viewer.get("/builds/%s" % task).get_data(as_text=True)
    start = re.search(r'after=([\d.]+)"', page).group(1).replace("&#34;", "")
    change_id, log_id = parse_event_id(start)
    assert log_id > 0
    agent.log("2mgreen\n")
    agent.step("build", "started")
    found, last_id = stream(as_viewer, "/events?view=build&task=%s&after=%s" % (task, start))
    logs = [data["html"] for _, name, data in found if name == "log"]
    assert logs == ['<span class="ansi-fg-2">green\n</span>']
    headers = [data for _, name, data in found if name == "build"]
    assert headers and 'class="running"><td>build</td>' in headers[-1]["html"]
    resumed_change, resumed_log = parse_event_id(last_id)
    assert resumed_log > log_id and resumed_change > change_id
    found, _ = stream(as_viewer, "/events?view=build&task=%s&after=0.0" % task,
                      **{"Last-Event-ID": last_id})
    assert [name for _, name, _ in found] == []


def test_a_full_house_is_told_to_come_back(app, as_viewer):
    before, app.config["UI_MAX_STREAMS"] = app.config["UI_MAX_STREAMS"], 0
    try:
        body = as_viewer.get("/events?view=board&after=0").get_data(as_text=True)
    finally:
        app.config["UI_MAX_STREAMS"] = before
    assert body == "retry: 5000\n\n"


def test_agents_stream(as_viewer, session_factory):
    after = now_id(session_factory)
    heartbeat(session_factory, "host9/builder/777", datetime.now(UTC))
    found, _ = stream(as_viewer, "/events?view=agents&after=%d" % after)
    assert found and "host9/builder/777" in found[0][2]["html"]


@pytest.mark.parametrize("text,expected", [
    ("12", (12, 0)), ("12.34", (12, 34)), ("", (0, 0)), ("x.1", (0, 0)), ("-5", (0, 0)),
])
def test_parse_event_id(text, expected):
    assert parse_event_id(text) == expected


# -- the cursor ----------------------------------------------------------------

def _change(session):
    return record_change(session, "agent").id


def test_a_change_committed_out_of_order_is_not_missed(session_factory):
    slow = session_factory()
    slow.begin()
    early = _change(slow)                        # id allocated, not committed
    cursor = ChangeCursor(early - 1)
    late = in_tx(session_factory, _change)       # a later id commits first
    with session_factory() as session:
        assert [c.id for c in cursor.fetch(session)] == [late]
    assert early in cursor.gaps
    slow.commit()
    slow.close()
    with session_factory() as session:
        assert [c.id for c in cursor.fetch(session)] == [early]
    assert not cursor.waiting


def test_a_new_cursor_watches_ids_in_flight_below_its_start(session_factory):
    slow = session_factory()
    slow.begin()
    early = _change(slow)
    late = in_tx(session_factory, _change)
    cursor = ChangeCursor(late)                  # the page was rendered at "late"
    with session_factory() as session:
        cursor.prime(session)
        assert cursor.fetch(session) == []
    slow.commit()
    slow.close()
    with session_factory() as session:
        assert [c.id for c in cursor.fetch(session)] == [early]


def test_a_rolled_back_id_is_given_up_after_the_grace_period(session_factory):
    clock = [0.0]
    slow = session_factory()
    slow.begin()
    lost = _change(slow)
    slow.rollback()
    slow.close()
    cursor = ChangeCursor(lost - 1, clock=lambda: clock[0], grace=10)
    kept = in_tx(session_factory, _change)
    with session_factory() as session:
        assert [c.id for c in cursor.fetch(session)] == [kept]
        assert cursor.waiting
        clock[0] = 11
        cursor.fetch(session)
        assert not cursor.waiting


@pytest.mark.parametrize("payload,expected", [
    ("12:release", (12, frozenset({"release"}))), ("40:log,task", (40, frozenset({"log", "task"}))),
    ("12", (12, None)), ("12:", (12, None)), ("x:release", None), ("", None),
])
def test_notify_payload_says_which_kinds_changed(payload, expected):
    assert parse_notify_payload(payload) == expected
    if expected is not None and expected[1] is not None:
        assert parse_notify_payload(notify_payload(*expected)) == expected


def test_notify_payload_of_every_kind_stays_small():
    kinds = ("release", "task", "log", "agent", "project", "switch", "audit", "migration")
    assert len(notify_payload(2**63 - 1, kinds)) < 200  # PostgreSQL allows 8000 bytes
