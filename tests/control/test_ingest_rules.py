"""Ingest applies each agent event once, in order, along the state machine."""
import uuid

import pytest

from rds_contracts import activator, agents, builder
from rds_control import outbox, releases
from rds_control.ingest import RejectedEvent, apply_event
from rds_db.models import Agent, AuditEntry, Change, ReleaseTarget, Task, TaskLog


def build_release(db_session, make_project, alice, agent_for, **project_overrides):
    project = make_project(**project_overrides)
    release = releases.create_release(db_session, project.name, {}, alice)
    return project, release, agent_for(release.tasks[0])


def test_the_happy_path_ends_installed(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.install_everything(project)
    assert release.status == "installed" and release.commit == "a" * 40
    assert release.tasks[0].status == "succeeded"
    states = {t.server_id: t.state for t in db_session.query(ReleaseTarget).filter_by(
        release_id=release.id)}
    assert states == {s.id: "ready" for s in project.servers}


def test_the_same_event_twice_changes_nothing(db_session, make_project, alice, agent_for,
                                              caplog):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    built = agent.event(builder.BuildBuilt, commit="c" * 40, files=1, bytes=1)
    apply_event(db_session, builder.BUILD_BUILT, built)
    changes = db_session.query(Change).filter_by(release_id=release.id).count()
    audit = db_session.query(AuditEntry).filter_by(release_id=release.id).count()
    with caplog.at_level("INFO", logger="rds_control.ingest"):
        apply_event(db_session, builder.BUILD_BUILT, built)
    # recognised as a duplicate by its sequence number, before any handler ran
    assert "seq %d of task %s: already at %d" % (built.seq, built.task_id, built.seq) \
        in caplog.text
    assert release.status == "built" and release.commit == "c" * 40
    assert db_session.query(Change).filter_by(release_id=release.id).count() == changes
    assert db_session.query(AuditEntry).filter_by(release_id=release.id).count() == audit


def test_a_late_older_transition_is_refused(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    early = agent.event(builder.BuildBuilt, commit="c" * 40, files=1, bytes=1)
    agent.send(builder.BUILD_INSTALLING, builder.BuildInstalling, servers=2)
    apply_event(db_session, builder.BUILD_BUILT, early)  # arrives after a newer event
    assert release.status == "installing"


def test_log_chunks_are_stored_once_whatever_their_order(db_session, make_project, alice,
                                                         agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    first = agent.event(agents.TaskLog, text="one\n")
    second = agent.event(agents.TaskLog, text="two\n")
    for event in (second, first, second):
        apply_event(db_session, agents.TASK_LOG, event)
    chunks = db_session.query(TaskLog).filter_by(task_id=agent.task_id).order_by(TaskLog.seq)
    assert [c.text for c in chunks] == ["one\n", "two\n"]


def test_events_of_a_stale_run_are_dropped(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    impostor = agent_for(release.tasks[0], name="host2/builder/9")
    impostor.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="d" * 40, files=1, bytes=1)
    assert release.status == "building" and release.commit is None


def test_a_redelivered_command_takes_over_the_task(db_session, make_project, alice, agent_for):
    project, release, first = build_release(db_session, make_project, alice, agent_for)
    first.start()
    second = agent_for(release.tasks[0], name="host2/builder/2")
    second.start(redelivered=True)
    second.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="e" * 40, files=1, bytes=1)
    first.send(builder.BUILD_FAILED, builder.BuildFailed, phase="build", reason="dead run")
    assert release.tasks[0].agent == "host2/builder/2"
    assert release.status == "built" and release.commit == "e" * 40


def test_events_after_the_task_ended_change_nothing(db_session, make_project, alice,
                                                    agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.install_everything(project)
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="upload", reason="late")
    assert release.status == "installed" and release.last_error is None


def test_events_for_unknown_tasks_are_rejected_for_the_dead_letters(db_session):
    event = agents.TaskStarted(task_id=uuid.uuid4().hex, run_id=uuid.uuid4().hex, seq=1,
                               agent="x")
    tasks = db_session.query(Task).count()
    changes = db_session.query(Change).count()
    with pytest.raises(RejectedEvent, match="unknown task"):
        apply_event(db_session, agents.TASK_STARTED, event)
    assert db_session.query(Task).count() == tasks  # no task appears out of nowhere
    assert db_session.query(Change).count() == changes


def test_a_failing_build_script_is_not_retried(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    before = len(outbox.pending_ids(db_session))
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="build",
               reason="build script exited with status 2\nmake: *** error")
    assert release.status == "failed" and "status 2" in release.last_error
    assert len(outbox.pending_ids(db_session)) == before


def test_an_upload_failure_is_retried_up_to_three_attempts(db_session, make_project, alice,
                                                           agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    for attempt in (1, 2, 3):
        assert release.build_attempts == attempt
        task = release.tasks[-1]
        runner = agent_for(task)
        runner.start()
        runner.send(builder.BUILD_FAILED, builder.BuildFailed, phase="upload",
                    reason="connection refused")
        db_session.refresh(release)
    assert release.status == "failed" and len(release.tasks) == 3
    assert release.version == "1.00.001.1"


def test_activation_makes_the_previous_release_old(db_session, make_project, installed_release,
                                                   alice, agent_for):
    project = make_project()
    first, second = installed_release(project), installed_release(project)
    for release in (first, second):
        releases.activate_release(db_session, release.id, alice)
        assert release.status == "using"
        agent = agent_for(release.tasks[-1], name="host1/activator/1")
        agent.start()
        agent.send(activator.ACTIVATION_FINISHED, activator.ActivationFinished, servers=[
            {"server_id": s.id, "ok": True, "current": "releases/" + release.version}
            for s in project.servers])
    assert (first.status, second.status) == ("old", "used")
    assert second.previous_version == first.version
    assert {s.current_version for s in project.servers} == {second.version}


def test_a_failed_activation_returns_the_release_where_it_was(db_session, make_project,
                                                              installed_release, alice, agent_for):
    project = make_project()
    release = installed_release(project)
    releases.activate_release(db_session, release.id, alice)
    agent = agent_for(release.tasks[-1], name="host1/activator/1")
    agent.start()
    agent.send(activator.ACTIVATION_FAILED, activator.ActivationFailed, reason="disk full",
               rolled_back=True)
    assert release.status == "installed" and release.last_error == "disk full"


def test_heartbeats_register_agents_and_never_go_back_in_time(db_session):
    name = "host-%s/builder/1" % uuid.uuid4().hex[:6]

    def beat(at):
        apply_event(db_session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
            agent=name, service="builder", pool="default", host="h", pid=1, version="1",
            running_tasks=[], interval=5, at=at))
    beat("2026-01-01T10:00:05Z")
    beat("2026-01-01T10:00:00Z")
    db_session.expire_all()
    assert db_session.get(Agent, name).last_heartbeat_at.second == 5


def test_facts_apply_in_any_order_even_after_the_end(db_session, make_project, alice, agent_for):
    """Several ingest workers may apply one task's events out of order."""
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    installing = agent.event(builder.BuildInstalling, servers=2)
    ready = [agent.event(builder.ServerReady, server_id=s.id, manifest_sha256="f" * 64,
                         files_sent=1, bytes_sent=1) for s in project.servers]
    finished = agent.event(builder.BuildFinished, servers=[
        {"server_id": s.id, "ok": True} for s in project.servers])
    apply_event(db_session, builder.SERVER_READY, ready[1])
    apply_event(db_session, builder.BUILD_FINISHED, finished)
    apply_event(db_session, builder.BUILD_INSTALLING, installing)  # late: refused
    apply_event(db_session, builder.SERVER_READY, ready[0])  # late: still recorded
    targets = db_session.query(ReleaseTarget).filter_by(release_id=release.id).all()
    assert release.status == "installed"
    assert {t.state for t in targets} == {"ready"} and len(targets) == 2
    assert {t.manifest_sha256 for t in targets} == {"f" * 64}


def test_events_before_task_started_begin_the_run(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    started = agent.event(agents.TaskStarted, agent=agent.name)
    step = agent.event(agents.TaskStep, step="checkout", state="started")
    apply_event(db_session, agents.TASK_STEP, step)
    apply_event(db_session, agents.TASK_STARTED, started)
    task = release.tasks[0]
    assert "started" in task.steps["checkout"] and task.agent == agent.name
    assert release.status == "building" and task.status == "running"


def test_a_late_build_built_still_records_the_commit(db_session, make_project, alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    built = agent.event(builder.BuildBuilt, commit="9" * 40, files=1, bytes=1)
    agent.send(builder.BUILD_INSTALLING, builder.BuildInstalling, servers=2)
    apply_event(db_session, builder.BUILD_BUILT, built)
    assert release.status == "installing" and release.commit == "9" * 40


def test_a_log_chunk_with_nul_is_stored_not_lost(db_session, make_project,
                                                                     alice, agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    agent.send(agents.TASK_LOG, agents.TaskLog, text="before\x00after end\n")
    db_session.flush()  # PostgreSQL refuses NUL in text: this is where it would fail
    chunk = db_session.query(TaskLog).filter_by(task_id=agent.task_id).one()
    assert chunk.text == "before\ufffdafter end\n"


def test_a_terminal_event_with_nul_still_ends_the_release(db_session, make_project, alice,
                                                          agent_for):
    project, release, agent = build_release(db_session, make_project, alice, agent_for)
    agent.start()
    assert release.status == "building"
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="build",
               reason="script printed \x00 and died")
    db_session.flush()
    assert release.status == "failed" and release.tasks[0].status == "failed"
    assert "\x00" not in release.last_error and "\ufffd" in release.last_error
