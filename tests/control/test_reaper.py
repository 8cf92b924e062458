"""Nothing stays in a transient state forever: the reaper ends stuck tasks."""
from datetime import timedelta

from rds_contracts import agents
from rds_control import releases
from rds_control.ingest import apply_event
from rds_control.reaper import reap
from rds_db.models.base import utcnow


def heartbeat(db_session, name, at):
    apply_event(db_session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
        agent=name, service="builder", pool="default", host="h", pid=1, version="t",
        interval=1, at=at))


def test_a_build_whose_agent_went_silent_fails_and_is_retried(db_session, make_project, alice,
                                                              agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0], name="silent/builder/1")
    heartbeat(db_session, agent.name, utcnow() - timedelta(minutes=5))
    heartbeat(db_session, "web/ingest/1", utcnow())  # heartbeats are flowing
    agent.start()
    assert reap(db_session, agent_timeout=30) == 1
    db_session.refresh(release)
    first, retry = release.tasks
    assert first.status == "failed" and "stopped sending heartbeats" in first.error
    assert retry.status == "queued" and release.build_attempts == 2 and release.status == "new"


def test_a_build_whose_agent_is_alive_is_left_alone(db_session, make_project, alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0], name="alive/builder/1")
    heartbeat(db_session, agent.name, utcnow())
    agent.start()
    assert reap(db_session, agent_timeout=30) == 0
    assert release.tasks[0].status == "running"


def test_a_task_nobody_takes_fails_saying_why(db_session, make_project, alice):
    project = make_project(agent_pool="nobody-here")
    release = releases.create_release(db_session, project.name, {}, alice)
    task = release.tasks[0]
    task.created_at = utcnow() - timedelta(hours=2)
    assert reap(db_session, queue_timeout=3600) >= 1
    assert task.status == "failed" and "no agent of pool nobody-here is online" in task.error


def test_an_unconfirmed_cancel_ends_cancelled(db_session, make_project, alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0], name="deaf/builder/1")
    heartbeat(db_session, agent.name, utcnow())
    agent.start()
    releases.cancel_release(db_session, release.id, alice)
    assert release.status == "cancelling"
    release.tasks[0].cancel_requested_at = utcnow() - timedelta(minutes=5)
    reap(db_session, cancel_timeout=60)
    assert release.status == "cancelled" and release.tasks[0].status == "cancelled"


def test_a_cancel_before_the_build_started_ends_at_once(db_session, make_project, alice):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    releases.cancel_release(db_session, release.id, alice)
    assert release.status == "cancelled" and release.tasks[0].status == "cancelled"


def test_a_task_its_live_agent_no_longer_runs_fails(db_session, make_project, alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    task = release.tasks[0]
    agent = agent_for(task, name="forgetful/builder/1")
    agent.start()
    task.seen_at = utcnow() - timedelta(seconds=60)  # its last event; the next was lost
    # a beat without the task, but close to its last event: that event may be in flight
    heartbeat(db_session, agent.name, utcnow() - timedelta(seconds=55))
    assert reap(db_session, agent_timeout=120, grace=15) == 0
    heartbeat(db_session, agent.name, utcnow())  # still without it, well after: lost
    assert reap(db_session, agent_timeout=120, grace=15) == 1
    assert task.status == "failed" and "no longer runs the task" in task.error


def test_a_task_listed_by_its_live_agent_is_left_alone(db_session, make_project, alice,
                                                       agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    task = release.tasks[0]
    agent = agent_for(task, name="busy/builder/1")
    agent.start()
    task.seen_at = utcnow() - timedelta(minutes=1)
    apply_event(db_session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
        agent=agent.name, service="builder", pool="default", host="h", pid=1, version="t",
        interval=1, at=utcnow(), running_tasks=[task.id]))
    assert reap(db_session, agent_timeout=30, grace=15) == 0 and task.status == "running"


def test_a_running_task_past_its_deadline_fails_and_is_cancelled_on_its_host(
        db_session, make_project, alice, agent_for):
    from rds_core.lifecycle import TaskKind
    from rds_db.models import OutboxMessage

    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    task = release.tasks[0]
    agent = agent_for(task, name="slow/builder/1")
    heartbeat(db_session, agent.name, utcnow())
    agent.start()
    task.started_at = utcnow() - timedelta(seconds=120)
    assert reap(db_session, agent_timeout=30, deadlines={TaskKind.BUILD: 300}) == 0
    assert reap(db_session, agent_timeout=30, deadlines={TaskKind.BUILD: 60}) == 1
    assert task.status == "failed" and "exceeded its deadline of 60 s" in task.error
    cancels = db_session.query(OutboxMessage).filter_by(command="cancel", broadcast=True).all()
    assert task.id in [m.body["task_id"] for m in cancels]


def test_no_task_fails_while_no_heartbeat_is_applied_at_all(db_session, make_project, alice,
                                                            agent_for):
    """Ingest stopped: every agent looks silent, and that is not the agents' fault."""
    from rds_db.models import Agent

    db_session.query(Agent).delete()
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0], name="quiet/builder/1")
    heartbeat(db_session, agent.name, utcnow() - timedelta(minutes=5))
    heartbeat(db_session, "web/ingest/1", utcnow() - timedelta(minutes=5))
    agent.start()
    assert reap(db_session, agent_timeout=30) == 0 and release.tasks[0].status == "running"
    heartbeat(db_session, "web/ingest/1", utcnow())  # ingest is back; quiet is not
    assert reap(db_session, agent_timeout=30) == 1
