"""Ingest applies events in batches: each event keeps its own fate, facts do not wait for
the task row, each task and kind gets one change row and the batch one NOTIFY."""
import threading
import uuid

import psycopg2
import pytest
from sqlalchemy import func, select, text

from rds_contracts import agents, builder
from rds_control import ingest
from rds_control.db_errors import DbFailure, classify
from rds_control.ingest import RejectedEvent, apply_batch, apply_events
from rds_control.tasks import lock_tasks
from rds_db.models import Change, Task, TaskLog
from rds_db.session import transaction


def log_chunk(task_id, run_id, seq, text_="line\n"):
    return agents.TASK_LOG, agents.TaskLog(task_id=task_id, run_id=run_id, seq=seq, text=text_)


def stored_log(session, task_id):
    return "".join(session.scalars(select(TaskLog.text).where(TaskLog.task_id == task_id)
                                   .order_by(TaskLog.seq)))


def test_a_rejected_event_leaves_the_rest_of_its_batch_applied(db_session, make_project, alice,
                                                               agent_for):
    from rds_control import releases

    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0])
    agent.start()
    events = [log_chunk(agent.task_id, agent.run_id, 2, "one\n"),
              log_chunk(uuid.uuid4().hex, agent.run_id, 3),  # unknown task
              (builder.BUILD_BUILT, agent.event(builder.BuildBuilt, seq=4, commit="c" * 40,
                                                files=1, bytes=1)),
              log_chunk(agent.task_id, agent.run_id, 5, "two\n")]
    outcomes = apply_batch(db_session, events)
    assert [type(o) for o in outcomes] == [type(None), RejectedEvent, type(None), type(None)]
    assert "unknown task" in str(outcomes[1])
    assert stored_log(db_session, agent.task_id) == "one\ntwo\n"
    assert release.status == "built" and release.commit == "c" * 40


def test_an_event_the_database_refuses_fails_alone(session_factory, committed_build,
                                                   monkeypatch):
    release_id, task, run_id, user = committed_build

    def refuses(session, task, event):
        session.execute(text("SELECT (2147483648)::integer"))
    monkeypatch.setitem(ingest._HANDLERS, builder.BUILD_BUILT, refuses)
    events = [log_chunk(task.id, run_id, 2, "before\n"),
              (builder.BUILD_BUILT, builder.BuildBuilt(task_id=task.id, run_id=run_id, seq=3,
                                                       commit="c" * 40, files=1, bytes=1)),
              log_chunk(task.id, run_id, 4, "after\n")]
    outcomes = apply_events(session_factory, None, events)
    assert outcomes[0] is None and outcomes[2] is None
    assert classify(outcomes[1]) == DbFailure.DATA
    with transaction(session_factory) as session:
        assert stored_log(session, task.id) == "before\nafter\n"


def test_the_database_being_away_is_every_events_outcome(monkeypatch, committed_build):
    from rds_db.session import make_engine, make_session_factory

    release_id, task, run_id, user = committed_build
    away = make_session_factory(make_engine("postgresql://postgres@127.0.0.1:1/away"))
    events = [log_chunk(task.id, run_id, 2), log_chunk(task.id, run_id, 3)]
    outcomes = apply_events(away, None, events)
    assert [classify(o) for o in outcomes] == [DbFailure.CONNECTION] * 2


def test_one_change_row_per_task_and_kind_and_one_notify(session_factory, database_url,
                                                         committed_build):
    release_id, task, run_id, user = committed_build
    listener = psycopg2.connect(database_url.replace("postgresql+psycopg2://",
                                                     "postgresql://"))
    listener.autocommit = True
    try:
        with listener.cursor() as cursor:
            cursor.execute("LISTEN rds_changes")
        with transaction(session_factory) as session:
            before = session.scalar(select(func.max(Change.id)))
        events = [log_chunk(task.id, run_id, seq) for seq in range(2, 12)]
        events += [(agents.TASK_STEP, agents.TaskStep(task_id=task.id, run_id=run_id, seq=seq,
                                                      step="build", state=state))
                   for seq, state in ((12, "started"), (13, "finished"))]
        assert apply_events(session_factory, None, events) == [None] * len(events)
        with transaction(session_factory) as session:
            kinds = session.scalars(select(Change.kind).where(Change.id > before,
                                                             Change.task_id == task.id)).all()
            newest = session.scalar(select(func.max(Change.id)))
        assert sorted(kinds) == ["log", "task"]
        listener.poll()
        assert [n.payload for n in listener.notifies] == ["%d:log,task" % newest]
    finally:
        listener.close()


def test_facts_do_not_wait_for_the_task_row(session_factory, committed_build):
    """Log chunks and "server ready" apply while another transaction holds the task row."""
    release_id, task, run_id, user = committed_build
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(session_factory) as session:
            lock_tasks(session, [task.id])
            holding.set()
            done.wait(30)
    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(30)
    try:
        with transaction(session_factory) as session:
            server_id = session.get(Task, task.id).project.servers[0].id
            session.execute(text("SET LOCAL lock_timeout = '5s'"))  # fail, do not hang
            outcomes = apply_batch(session, [
                log_chunk(task.id, run_id, 2, "while locked\n"),
                (builder.SERVER_READY, builder.ServerReady(
                    task_id=task.id, run_id=run_id, seq=3, server_id=server_id,
                    manifest_sha256="b" * 64, files_sent=1, bytes_sent=1))])
        assert outcomes == [None, None]
    finally:
        done.set()
        holder.join(30)
    with transaction(session_factory) as session:
        assert stored_log(session, task.id) == "while locked\n"


def test_a_redelivered_chunk_does_not_count_twice_against_the_limit(db_session, make_project,
                                                                    alice, agent_for,
                                                                    monkeypatch):
    from rds_control import releases

    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0])
    agent.start()
    monkeypatch.setattr(ingest, "RELEASE_LOG_LIMIT", 100)
    first = log_chunk(agent.task_id, agent.run_id, 2, "a" * 40)
    apply_batch(db_session, [first])
    apply_batch(db_session, [first, log_chunk(agent.task_id, agent.run_id, 3, "b" * 40),
                             log_chunk(agent.task_id, agent.run_id, 4, "c" * 40)])
    log = stored_log(db_session, agent.task_id)
    assert log.startswith("a" * 40 + "b" * 40 + "c" * 20) and "log truncated" in log


@pytest.mark.parametrize("duplicate_in_batch", [True, False])
def test_a_chunk_twice_in_one_batch_is_stored_once(db_session, make_project, alice, agent_for,
                                                   duplicate_in_batch):
    from rds_control import releases

    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0])
    agent.start()
    chunk = log_chunk(agent.task_id, agent.run_id, 2, "once\n")
    if duplicate_in_batch:
        apply_batch(db_session, [chunk, chunk])
    else:
        apply_batch(db_session, [chunk])
        apply_batch(db_session, [chunk])
    assert stored_log(db_session, agent.task_id) == "once\n"
