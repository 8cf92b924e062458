"""Nothing stays in a transient state forever: the reaper ends stuck tasks, and
nothing fails because ingest is behind (clocks injected: ``now``, probes, heartbeats)."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from rds_contracts import agents
from rds_contracts.ingest import IngestProbe
from rds_control import releases
from rds_control.heartbeats import apply_heartbeat
from rds_control.ingest import apply_event
from rds_control.ingest_lag import ingest_lag
from rds_control.reaper import reap
from rds_core.lifecycle import TaskKind
from rds_db.models import IngestProbe as ProbeRow
from rds_db.models import OutboxMessage, Task
from rds_db.models.base import utcnow


def heartbeat(db_session: Session, name: str, at: datetime,
              running: tuple[str, ...] = ()) -> None:
    """``name`` sent a heartbeat at ``at`` listing ``running``."""
    apply_heartbeat(db_session, agents.AgentHeartbeat(
        agent=name, service="builder", pool="default", host="h", pid=1, version="t",
        interval=1, at=at, running_tasks=list(running)))


def probe(db_session: Session, at: datetime) -> None:
    """Ingest applied the pruner's probe sent at ``at`` (and so every event before it)."""
    apply_event(db_session, "ingest_probe", IngestProbe(sender="web/pruner/1", at=at))


@pytest.fixture(autouse=True)
def no_probe_yet(db_session: Session) -> None:
    """Each test starts without a probe (one committed by another test module would
    stand for an ingest that stopped then)."""
    db_session.query(ProbeRow).delete()


def cancels(db_session: Session) -> list[str]:
    return [m.body["task_id"] for m in db_session.query(OutboxMessage).filter_by(
        command="cancel", broadcast=True)]


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
    now = utcnow()
    heartbeat(db_session, agent.name, now - timedelta(seconds=60), running=(task.id,))
    probe(db_session, now)  # ingest is not behind
    # the first beat without it: its final event, published before, may still be in flight
    heartbeat(db_session, agent.name, now - timedelta(seconds=10))
    assert reap(db_session, agent_timeout=120, grace=15, now=now) == 0
    # ingest has applied everything sent until 15 s after that beat: the end never came
    later = now + timedelta(seconds=10)
    heartbeat(db_session, agent.name, later)
    probe(db_session, later)
    assert reap(db_session, agent_timeout=120, grace=15, now=later) == 1
    assert task.status == "failed" and "no longer runs the task" in task.error
    assert task.id in cancels(db_session)


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


# --- ingest behind: rules a backlog explains wait; a silent agent does not ----------------


def _running(db_session: Session, make_project, alice, agent_for, name: str,
             now: datetime, beat_at: datetime | None = None) -> Task:
    """A build running for 100 s on agent ``name``, whose heartbeat lists it."""
    release = releases.create_release(db_session, make_project().name, {}, alice)
    task = release.tasks[0]
    agent_for(task, name=name).start()
    task.started_at = task.seen_at = now - timedelta(seconds=100)
    heartbeat(db_session, name, beat_at or now - timedelta(seconds=25), running=(task.id,))
    return task


def _past_deadline(db_session: Session, task: Task, now: datetime) -> dict:
    return {"deadlines": {TaskKind.BUILD: 60}}


def _report_lost(db_session: Session, task: Task, now: datetime) -> dict:
    # the agent no longer lists it: its end was published before this beat
    heartbeat(db_session, task.agent, now - timedelta(seconds=20))
    return {"grace": 15}


def _nobody_took_it(db_session: Session, task: Task, now: datetime) -> dict:
    task.status, task.agent, task.started_at = "queued", None, None
    task.created_at = now - timedelta(seconds=3700)
    return {"queue_timeout": 3600}


def _cancel_unconfirmed(db_session: Session, task: Task, now: datetime) -> dict:
    task.status, task.cancel_requested_at = "cancelling", now - timedelta(minutes=5)
    return {"cancel_timeout": 60}


@pytest.mark.parametrize("situation", [_past_deadline, _report_lost, _nobody_took_it,
                                       _cancel_unconfirmed])
def test_while_ingest_is_behind_what_a_backlog_explains_waits(db_session, make_project, alice,
                                                              agent_for, situation):
    """The event that ends the task may be in the queue: the rule is judged at the
    ingest clock (the newest probe applied), and fires once ingest has caught up."""
    now = utcnow()
    probe(db_session, now - timedelta(minutes=10))  # ingest is 10 minutes behind
    task = _running(db_session, make_project, alice, agent_for, "busy-%s/builder/1"
                    % situation.__name__.strip("_"), now)
    limits = situation(db_session, task, now)
    assert ingest_lag(db_session, now) == 600
    assert reap(db_session, agent_timeout=30, now=now, **limits) == 0
    assert task.finished_at is None and task.id not in cancels(db_session)
    probe(db_session, now)  # caught up, and the end never came
    assert reap(db_session, agent_timeout=30, now=now, **limits) == 1
    assert task.finished_at is not None


def test_a_silent_agent_still_fails_its_task_while_ingest_is_behind(db_session, make_project,
                                                                     alice, agent_for):
    now = utcnow()
    probe(db_session, now - timedelta(minutes=10))
    task = _running(db_session, make_project, alice, agent_for, "dead/builder/1", now,
                    beat_at=now - timedelta(seconds=31))
    heartbeat(db_session, "alive/builder/2", now)  # heartbeats are flowing
    assert reap(db_session, agent_timeout=30, now=now) == 1
    assert task.status == "failed" and "stopped sending heartbeats" in task.error
    assert task.id in cancels(db_session)


@pytest.mark.parametrize("situation", [_past_deadline, _report_lost, _nobody_took_it,
                                       _cancel_unconfirmed])
def test_every_task_the_reaper_ends_gets_a_cancel(db_session, make_project, alice, agent_for,
                                                  situation):
    """Whatever the reason and state (a task that looks queued may run on an agent whose
    start waits in the queue): the killer of its host stops what may still run."""
    now = utcnow()
    probe(db_session, now)
    task = _running(db_session, make_project, alice, agent_for, "reaped-%s/builder/1"
                    % situation.__name__.strip("_"), now)
    limits = situation(db_session, task, now)
    assert reap(db_session, agent_timeout=30, now=now, **limits) == 1
    assert task.finished_at is not None and task.id in cancels(db_session)
