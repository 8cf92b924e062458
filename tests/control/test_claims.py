"""Fencing: only the run that holds a task may act; stale and duplicate commands never do."""
import uuid
from datetime import timedelta

from rds_contracts import agents
from rds_contracts.pruner import START, ClaimRequest
from rds_control import releases
from rds_control.claims import claim_task
from rds_control.ingest import apply_event
from rds_control.reaper import reap
from rds_db.models.base import utcnow


def claim(db_session, task, agent="host1/builder/100", run_id=None, step=START, **fields):
    request = ClaimRequest(task_id=task.id, run_id=run_id or uuid.uuid4().hex, agent=agent,
                           step=step, **fields)
    return request, claim_task(db_session, request, agent_timeout=30)


def heartbeat(db_session, name, at=None, running=()):
    apply_event(db_session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
        agent=name, service="builder", pool="default", host=name.split("/")[0], pid=1,
        version="t", interval=1, at=at or utcnow(), running_tasks=list(running)))


def new_build(db_session, make_project, alice):
    release = releases.create_release(db_session, make_project().name, {}, alice)
    return release, release.tasks[0]


def test_the_first_start_is_granted_and_begins_the_run(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    request, answer = claim(db_session, task)
    assert answer.granted and answer.token == 1
    assert task.status == "running" and task.run_id == request.run_id
    assert task.agent == request.agent and release.status == "building"
    _, again = claim(db_session, task, run_id=request.run_id, step="upload")
    assert again.granted and again.token == 1


def test_a_command_for_a_cancelled_release_is_refused(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    releases.cancel_release(db_session, release.id, alice)
    _, answer = claim(db_session, task)
    assert not answer.granted and answer.cancelled
    assert task.status == "cancelled" and task.run_id is None


def test_a_duplicate_delivery_is_refused_while_the_holder_runs(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    holder = "host1/builder/100"
    heartbeat(db_session, holder, running=[task.id])
    first, _ = claim(db_session, task, agent=holder)
    _, duplicate = claim(db_session, task, agent="host2/builder/7", redelivered=True)
    assert not duplicate.granted and duplicate.holder == holder
    assert task.run_id == first.run_id and task.fence == 1


def test_a_dead_holder_is_replaced_by_a_copy_on_its_host(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    heartbeat(db_session, "host1/builder/100", running=[task.id])
    claim(db_session, task, agent="host1/builder/100")
    _, other_host = claim(db_session, task, agent="host2/builder/7",
                          replaces="host1/builder/100")
    assert not other_host.granted  # only a copy on the holder's host saw it die
    second, answer = claim(db_session, task, agent="host1/builder/200",
                           replaces="host1/builder/100", redelivered=True)
    assert answer.granted and answer.token == 2 and task.run_id == second.run_id


def test_a_silent_holder_is_taken_over(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    heartbeat(db_session, "gone/builder/1", at=utcnow() - timedelta(minutes=5))
    heartbeat(db_session, "web/ingest/1")  # heartbeats are flowing: "gone" is silent
    claim(db_session, task, agent="gone/builder/1")
    _, answer = claim(db_session, task, agent="host2/builder/7", redelivered=True)
    assert answer.granted and answer.token == 2


def test_a_reaped_run_can_no_longer_act(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    heartbeat(db_session, "stuck/builder/1", at=utcnow() - timedelta(minutes=5))
    heartbeat(db_session, "web/ingest/1")
    request, _ = claim(db_session, task, agent="stuck/builder/1")
    reap(db_session, agent_timeout=30)  # (tasks other tests left may be reaped too)
    assert task.finished_at is not None and "stuck/builder/1 stopped sending" in task.error
    _, upload = claim(db_session, task, agent="stuck/builder/1", run_id=request.run_id,
                      step="upload")
    assert not upload.granted and "already ended" in upload.reason
    _, redelivered = claim(db_session, task, agent="stuck/builder/2", redelivered=True)
    assert not redelivered.granted
    retry = release.tasks[-1]
    assert retry.id != task.id and retry.status == "queued"  # attempt 2 is a new task


def test_a_later_step_of_a_replaced_run_is_refused(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    old, _ = claim(db_session, task, agent="h/builder/1")
    claim(db_session, task, agent="h/builder/2", replaces="h/builder/1")
    _, answer = claim(db_session, task, agent="h/builder/1", run_id=old.run_id, step="upload")
    assert not answer.granted and "no longer holds" in answer.reason


def test_a_cancel_wins_at_the_next_checkpoint(db_session, make_project, alice):
    release, task = new_build(db_session, make_project, alice)
    heartbeat(db_session, "h/builder/1", running=[task.id])
    request, _ = claim(db_session, task, agent="h/builder/1")
    releases.cancel_release(db_session, release.id, alice)
    assert release.status == "cancelling"
    _, answer = claim(db_session, task, agent="h/builder/1", run_id=request.run_id,
                      step="upload")
    assert not answer.granted and answer.cancelled
    assert release.status == "cancelled" and task.status == "cancelled"
