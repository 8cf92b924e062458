"""Ingest refuses events that reach beyond their task (dead-lettered with the reason),
and keeps each release's stored log within its limit."""
import uuid

import pytest
from sqlalchemy import select

from rds_contracts import agents, builder
from rds_control import ingest, releases
from rds_control.ingest import RejectedEvent
from rds_db.models import Agent as AgentRow
from rds_db.models import ReleaseTarget, TaskLog
from rds_db.models.base import utcnow


@pytest.fixture
def building(db_session, make_project, alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0])
    agent.start()
    return project, release, agent


def test_a_server_of_another_project_is_refused(db_session, make_project, building):
    project, release, agent = building
    stranger = make_project().servers[0]
    with pytest.raises(RejectedEvent, match="outside project"):
        agent.send(builder.SERVER_READY, builder.ServerReady, server_id=stranger.id,
                   manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
    assert db_session.get(ReleaseTarget, (release.id, stranger.id)) is None


def test_a_terminal_event_naming_another_projects_server_is_refused(db_session, make_project,
                                                                    building):
    project, release, agent = building
    stranger = make_project().servers[0]
    servers = [{"server_id": s.id, "ok": True} for s in project.servers + [stranger]]
    with pytest.raises(RejectedEvent, match=str(stranger.id)):
        agent.send(builder.BUILD_FINISHED, builder.BuildFinished, servers=servers)
    assert release.status == "building"


def test_a_build_started_by_another_service_is_refused(db_session, make_project, alice,
                                                       agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    with pytest.raises(RejectedEvent, match="not a builder copy"):
        agent_for(release.tasks[0], name="host1/activator/1").start()
    assert release.tasks[0].agent is None and release.status == "new"


def test_a_build_started_by_an_agent_of_another_pool_is_refused(db_session, make_project,
                                                                alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    name = "evil-%s/builder/1" % uuid.uuid4().hex[:6]
    db_session.add(AgentRow(name=name, service="builder", pool="other", host="evil", pid=1,
                            version="t", running_tasks=[], heartbeat_interval=5,
                            first_seen_at=utcnow(), last_heartbeat_at=utcnow()))
    db_session.flush()
    with pytest.raises(RejectedEvent, match="of pool other"):
        agent_for(release.tasks[0], name=name).start()


def test_another_agent_cannot_claim_the_current_run(db_session, building, agent_for):
    project, release, agent = building
    impostor = agent_for(release.tasks[0], name="host9/builder/9")
    impostor.run_id = agent.run_id
    with pytest.raises(RejectedEvent, match="belongs to host1/builder/1"):
        impostor.start()
    assert release.tasks[0].agent == "host1/builder/1"


def stored_log(db_session, task_id):
    return "".join(db_session.scalars(select(TaskLog.text).where(TaskLog.task_id == task_id)
                                      .order_by(TaskLog.seq)))


def test_the_stored_log_stops_at_the_limit_and_says_so(db_session, building, monkeypatch):
    project, release, agent = building
    monkeypatch.setattr(ingest, "RELEASE_LOG_LIMIT", 100)
    for _ in range(3):
        agent.send(agents.TASK_LOG, agents.TaskLog, text="x" * 40 + "\n")
    agent.send(agents.TASK_LOG, agents.TaskLog, text="after the limit\n")
    log = stored_log(db_session, agent.task_id)
    assert log.startswith(("x" * 40 + "\n") * 2 + "x" * 18)
    assert "log truncated" in log and "100 bytes" in log
    assert "after the limit" not in log


def test_a_log_within_the_limit_is_stored_whole(db_session, building):
    project, release, agent = building
    agent.send(agents.TASK_LOG, agents.TaskLog, text="é" * 1000)
    assert stored_log(db_session, agent.task_id) == "é" * 1000
