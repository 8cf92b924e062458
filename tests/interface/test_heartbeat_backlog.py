"""A backlog of events never makes a live agent look dead, nor fails its task.

Real RabbitMQ and PostgreSQL, the real pruner (it applies heartbeats from their
own queue and runs the reaper's rules), a real ingest that applies the pruner's
probe and is then stopped, a live agent heartbeating every 0.2 s with its task
running, and 20,000 signed events waiting in ingest's queue. With heartbeats in
the events queue (the old design) the agent's heartbeats wait behind the
20,000 events, it shows offline, and the wait for its next heartbeat fails.
"""
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from kombu import Connection, Producer
from nameko.containers import ServiceContainer
from nameko.testing.services import entrypoint_waiter
from nameko.testing.utils import get_extension
from sqlalchemy.orm import Session, sessionmaker

from rds_bus import signing, topology
from rds_bus.runtime import AgentRuntime
from rds_contracts import agents
from rds_contracts.ingest import INGEST_PROBE
from rds_control import projects, releases, users
from rds_control.agents import list_agents
from rds_control.ingest import apply_event
from rds_control.ingest_lag import ingest_lag
from rds_control.reaper import reap
from rds_core.lifecycle import TaskKind
from rds_db.models import Agent, IngestProbe, OutboxMessage, Task
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_ingest.service import IngestService
from rds_pruner.service import PrunerService
from rds_settings.nameko import nameko_config
from rds_settings.settings import load

BACKLOG = 20_000
EVENT_KEY = "e" * 64
BEAT = 0.2  # seconds between the live agent's heartbeats (the pruner's own: 0.5)
TIMEOUT = 1.5  # the reaper's agent timeout here: the backlog waits longer


class LiveBuilder:
    """An agent copy that only heartbeats (its task runs "elsewhere in it")."""

    name = "builder"
    runtime = AgentRuntime()


def web_side_config(service: str, amqp_uri: str, database_url: str) -> dict[str, Any]:
    settings = load({"RDS_AMQP_URI": amqp_uri, "RDS_DATABASE_URL": database_url,
                     "RDS_BUS_EVENT_KEY": EVENT_KEY, "RDS_BUS_COMMAND_KEY": "c" * 64,
                     "RDS_OUTBOX_GRACE": "3600", "RDS_QUEUE_TIMEOUT": "3600",
                     "RDS_HEARTBEAT_INTERVAL": "0.5",
                     "RDS_AGENT_NAME": "backlog-web-%s" % uuid.uuid4().hex[:6]})
    return nameko_config(service, settings)


def waiting_events(amqp_uri: str) -> int:
    """Messages ready in ingest's queue (passive declare: never creates it)."""
    with Connection(amqp_uri) as connection:
        _, count, _ = connection.default_channel.queue_declare(topology.INGEST_QUEUE.name,
                                                               passive=True)
        return count


def publish_backlog(amqp_uri: str, task_id: str, run_id: str, count: int) -> int:
    """Publish ``count`` signed log events of the task, as an agent would send them
    (persistent); returns how many events wait in ingest's queue then.

    Only the last one waits for the broker's confirm (confirming each would take
    ~30 s): the broker handles a channel's messages in order, so once the last is
    confirmed every one before it is in the queue."""
    signer = signing.Signer(EVENT_KEY, signing.EVENT)
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        producer = Producer(channel, serializer="json")
        for seq in range(1, count + 1):
            if seq == count:
                channel.basic_publish = channel.basic_publish_confirm
            body = agents.TaskLog(task_id=task_id, run_id=run_id, seq=seq,
                                  text="line %d\n" % seq).to_wire()
            producer.publish(body, exchange=topology.EVENTS_EXCHANGE,
                             routing_key=agents.TASK_LOG, delivery_mode=2,
                             headers={topology.TYPE_HEADER: agents.TASK_LOG,
                                      **signer.headers(agents.TASK_LOG, agents.TASK_LOG,
                                                       body)})
        _, waiting, _ = channel.queue_declare(topology.INGEST_QUEUE.name, passive=True)
        return waiting


@pytest.fixture
def empty_events_queue(amqp_uri: str) -> Iterator[None]:
    """Ingest's queue empty before and after (20,000 events must not reach other tests)."""
    def purge() -> None:
        with Connection(amqp_uri) as connection:
            queue = topology.INGEST_QUEUE(connection.default_channel)
            queue.declare()
            queue.purge()
    purge()
    yield
    purge()


@pytest.fixture
def running_task(session_factory: sessionmaker[Session]) -> Iterator[dict[str, str]]:
    """A committed build task (not started yet) and the run id its agent will use."""
    with transaction(session_factory) as session:
        owner = users.create_user(session, "bl-%s" % uuid.uuid4().hex[:6], "deployer")
        project = projects.create_project(session, {
            "name": "bl-%s" % uuid.uuid4().hex[:6], "repository": "/srv/git/app.git",
            "deploy_path": "apps/app", "servers": [{"host": "10.0.0.1", "user": "deploy"}],
            "scripts": {"build": "make"}}, owner)
        task_id = releases.create_release(session, project.name, {}, owner).tasks[0].id
    yield {"task_id": task_id, "run_id": uuid.uuid4().hex}
    with transaction(session_factory) as session:
        task = session.get(Task, task_id)  # no later reaper run may end it
        task.status, task.finished_at = "cancelled", utcnow()
        # the probe row would stand for an ingest stopped in this test, in later ones
        session.query(IngestProbe).delete()


def start_live_agent(container_factory: Any, amqp_uri: str,
                     task_id: str) -> tuple[ServiceContainer, AgentRuntime]:
    container = container_factory(LiveBuilder, {
        "AMQP_URI": amqp_uri, "HEARTBEAT_INTERVAL": BEAT, "BUS_EVENT_KEY": EVENT_KEY,
        "AGENT_NAME": "live-%s" % uuid.uuid4().hex[:6]})
    runtime = get_extension(container, AgentRuntime)
    container.start()
    runtime.running.add(task_id)  # announced from its next heartbeat on
    return container, runtime


def test_a_backlog_of_20000_events_does_not_fail_a_live_agents_task(
        container_factory: Any, amqp_uri: str, database_url: str,
        session_factory: sessionmaker[Session], empty_events_queue: None,
        running_task: dict[str, str]) -> None:
    task_id, run_id = running_task["task_id"], running_task["run_id"]
    pruner = container_factory(PrunerService, web_side_config("pruner", amqp_uri,
                                                              database_url))
    ingest = container_factory(IngestService, web_side_config("ingest", amqp_uri,
                                                              database_url))
    with entrypoint_waiter(ingest, "handle_events", timeout=30,
                           callback=lambda worker_ctx, result, exc_info: exc_info is None and any(
                               name == INGEST_PROBE for name, _ in worker_ctx.args[0])):
        ingest.start()
        pruner.start()  # its first probe: ingest is not behind
    ingest.stop()  # from now on every event waits in the queue

    agent, runtime = start_live_agent(container_factory, amqp_uri, task_id)
    with transaction(session_factory) as session:  # its task_started was applied before
        apply_event(session, agents.TASK_STARTED, agents.TaskStarted(
            task_id=task_id, run_id=run_id, seq=1, agent=runtime.name))

    assert publish_backlog(amqp_uri, task_id, run_id, BACKLOG) >= BACKLOG
    backlog_at = utcnow()

    def fresh_beat(worker_ctx: Any, result: Any, exc_info: Any) -> bool:
        beat = worker_ctx.args[0]
        return (exc_info is None and beat.agent == runtime.name and task_id in beat.running_tasks
                and beat.at > backlog_at + timedelta(seconds=2 * TIMEOUT))
    # heartbeats sent well after the backlog formed are applied while it waits
    with entrypoint_waiter(pruner, "handle_heartbeat", timeout=20, callback=fresh_beat):
        pass
    assert waiting_events(amqp_uri) >= BACKLOG  # every event still waits

    now = utcnow()
    with transaction(session_factory) as session:
        assert ingest_lag(session, now) >= 2 * TIMEOUT
        # the task started before the backlog; its deadline (TIMEOUT) passed long ago by the
        # wall clock, but its end may be in the queue: nothing a backlog explains fails it
        ended = reap(session, agent_timeout=TIMEOUT, grace=TIMEOUT,
                     deadlines={TaskKind.BUILD: TIMEOUT}, now=now)
        # and with the clock moved past the default agent timeout, all the same
        ended += reap(session, now=now + timedelta(seconds=45))
        task = session.get(Task, task_id)
        assert (ended, task.status, task.finished_at) == (0, "running", None)
        online = {a.name: is_online for a, is_online in list_agents(session, now=now,
                                                                    timeout=TIMEOUT)}
        assert online[runtime.name] is True
        agent_row = session.get(Agent, runtime.name)
        assert agent_row.running_tasks == [task_id]
        assert agent_row.last_heartbeat_at > backlog_at


def test_a_silent_agent_still_fails_its_task_during_a_backlog(
        container_factory: Any, amqp_uri: str, database_url: str,
        session_factory: sessionmaker[Session], empty_events_queue: None,
        running_task: dict[str, str]) -> None:
    """Holding off is only for what a backlog explains: an agent whose heartbeats
    stopped (on their own path) still loses its task, and the task gets a cancel."""
    task_id, run_id = running_task["task_id"], running_task["run_id"]
    pruner = container_factory(PrunerService, web_side_config("pruner", amqp_uri,
                                                              database_url))
    pruner.start()
    agent, runtime = start_live_agent(container_factory, amqp_uri, task_id)
    with transaction(session_factory) as session:
        apply_event(session, agents.TASK_STARTED, agents.TaskStarted(
            task_id=task_id, run_id=run_id, seq=1, agent=runtime.name))
    publish_backlog(amqp_uri, task_id, run_id, 1000)
    with entrypoint_waiter(pruner, "handle_heartbeat", timeout=20,
                           callback=lambda worker_ctx, result, exc_info:
                           worker_ctx.args[0].agent == runtime.name):
        pass
    agent.kill()  # its heartbeats stop; the pruner's own go on
    stopped_at = utcnow()

    def later_beat(worker_ctx: Any, result: Any, exc_info: Any) -> bool:
        return exc_info is None and worker_ctx.args[0].at > stopped_at + timedelta(
            seconds=2 * TIMEOUT)
    with entrypoint_waiter(pruner, "handle_heartbeat", timeout=30, callback=later_beat):
        pass  # the pruner's own heartbeat (every RDS_HEARTBEAT_INTERVAL) moves the clock
    with transaction(session_factory) as session:
        assert reap(session, agent_timeout=TIMEOUT, now=utcnow()) == 1
        task = session.get(Task, task_id)
        assert task.status == "failed" and "stopped sending heartbeats" in task.error
        assert task_id in [m.body["task_id"] for m in session.query(OutboxMessage).filter_by(
            command="cancel", broadcast=True)]
