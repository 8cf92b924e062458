"""Only signed commands reach an agent and only signed events reach ingest (and
signed heartbeats and fencing claims the pruner); events that reach beyond their task are
dead-lettered with the reason (real RabbitMQ)."""
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from nameko.testing.utils import get_extension

from rds_bus import signing, topology
from rds_bus.entrypoints import command_handler
from rds_bus.publish import BusPublisher
from rds_bus.runtime import AgentRuntime, ClaimRefused
from rds_contracts import agents, builder
from rds_contracts.pruner import START, ClaimRequest
from rds_db.models import Agent, Task
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_ingest.service import IngestService
from rds_pruner.service import PrunerService
from rds_settings.nameko import nameko_config
from rds_settings.settings import load
from tests import factories
from tests.interface.test_dead_letters import next_dead_letter

COMMAND_KEY, EVENT_KEY = "c" * 64, "e" * 64


class RecordingBuilder:
    """Takes ``build`` commands like the builder, and only records them."""

    name = "builder"
    seen = []

    @command_handler(builder.BUILD)
    def build(self, command, redelivered):
        RecordingBuilder.seen.append(command.task_id)


def build_command(task_id=None):
    return builder.BuildCommand(
        task_id=task_id or uuid.uuid4().hex, project="app", repository="/srv/git/app.git",
        ref="main", version="1.00.001.1", release_line=1, build_script="id > /tmp/pwned",
        deploy_path="apps/app", servers=[{"id": 1, "host": "10.0.0.1", "user": "deploy"}])


@pytest.fixture
def config(amqp_uri, database_url):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "HEARTBEAT_INTERVAL": 60,
            "BUS_COMMAND_KEY": COMMAND_KEY, "BUS_EVENT_KEY": EVENT_KEY}


@pytest.fixture
def agent(container_factory, config):
    RecordingBuilder.seen.clear()
    container = container_factory(RecordingBuilder, config)
    container.start()
    return container


def test_a_signed_command_is_handled(agent, amqp_uri):
    command = build_command()
    with entrypoint_waiter(agent, "build"):
        BusPublisher(amqp_uri, command_key=COMMAND_KEY).send_command(command, "default")
    assert RecordingBuilder.seen == [command.task_id]


@pytest.mark.parametrize("key, reason", [(None, "unsigned command"),
                                         ("k" * 64, "wrong signature")])
def test_a_forged_command_is_dead_lettered_unhandled(agent, amqp_uri, caplog, key, reason):
    command = build_command()
    BusPublisher(amqp_uri, command_key=key).send_command(command, "default")
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["task_id"] == command.task_id
    assert RecordingBuilder.seen == []
    assert reason in caplog.text


def test_a_command_signed_for_another_pool_is_refused(agent, amqp_uri, caplog):
    """The routing key is signed: a captured command cannot be re-routed."""
    command = build_command()
    body = command.to_wire()
    signed_for_blue = BusPublisher(amqp_uri, command_key=COMMAND_KEY).signers[
        "command"].headers(topology.command_routing_key("build", "blue"), "build", body)
    publisher = BusPublisher(amqp_uri)
    publisher._publisher.publish(
        body, exchange=topology.COMMANDS_EXCHANGE,
        routing_key=topology.command_routing_key("build", "default"),
        headers={topology.TYPE_HEADER: "build", **signed_for_blue},
        declare=[topology.command_queue("build", "default")])
    next_dead_letter(amqp_uri)
    assert RecordingBuilder.seen == [] and "wrong signature" in caplog.text


def heartbeat(name):
    return agents.AgentHeartbeat(agent=name, service="builder", pool="default", host="h",
                                 pid=1, version="t", interval=5, at="2026-01-01T00:00:00Z")


@pytest.fixture
def ingest(container_factory, config):
    container = container_factory(IngestService, config)
    container.start()
    return container


def test_a_signed_event_is_applied(ingest, amqp_uri, session_factory):
    name = "host-%s/builder/1" % uuid.uuid4().hex[:6]
    with entrypoint_waiter(ingest, "handle_events"):
        BusPublisher(amqp_uri, event_key=EVENT_KEY).send_event(heartbeat(name))
    with transaction(session_factory) as session:
        assert session.get(Agent, name) is not None


@pytest.mark.parametrize("key", [None, COMMAND_KEY])
def test_a_forged_event_is_dead_lettered_and_changes_nothing(ingest, amqp_uri, session_factory,
                                                             caplog, key):
    name = "forged-%s/builder/1" % uuid.uuid4().hex[:6]
    BusPublisher(amqp_uri, event_key=key).send_event(heartbeat(name))
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["agent"] == name
    with transaction(session_factory) as session:
        assert session.get(Agent, name) is None
    assert "event 'agent_heartbeat'" in caplog.text


def test_an_event_for_an_unknown_task_is_dead_lettered_with_the_reason(ingest, amqp_uri,
                                                                       caplog):
    task_id = uuid.uuid4().hex
    BusPublisher(amqp_uri, event_key=EVENT_KEY).send_event(agents.TaskLog(
        task_id=task_id, run_id=uuid.uuid4().hex, seq=1, text="hello"))
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["task_id"] == task_id
    assert "unknown task %s" % task_id in caplog.text


@pytest.fixture
def pruner(container_factory, amqp_uri, database_url):
    """The pruner applies heartbeats (from their own queue, ``rds.pruner.heartbeats``)."""
    settings = load({"RDS_AMQP_URI": amqp_uri, "RDS_DATABASE_URL": database_url,
                     "RDS_BUS_COMMAND_KEY": COMMAND_KEY, "RDS_BUS_EVENT_KEY": EVENT_KEY,
                     "RDS_OUTBOX_GRACE": "3600", "RDS_HEARTBEAT_INTERVAL": "60"})
    container = container_factory(PrunerService, nameko_config("pruner", settings))
    container.start()
    return container


def test_a_signed_heartbeat_is_applied_by_the_pruner(pruner, amqp_uri, session_factory):
    name = "host-%s/builder/1" % uuid.uuid4().hex[:6]
    with entrypoint_waiter(pruner, "handle_heartbeat", callback=lambda worker_ctx, result,
                           exc_info: worker_ctx.args[0].agent == name):
        BusPublisher(amqp_uri, event_key=EVENT_KEY).send_heartbeat(heartbeat(name))
    with transaction(session_factory) as session:
        assert session.get(Agent, name).service == "builder"


@pytest.mark.parametrize("key", [None, COMMAND_KEY])
def test_a_forged_heartbeat_is_dead_lettered_and_changes_nothing(pruner, amqp_uri,
                                                                 session_factory, caplog, key):
    name = "forged-%s/builder/1" % uuid.uuid4().hex[:6]
    BusPublisher(amqp_uri, event_key=key).send_heartbeat(heartbeat(name))
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["agent"] == name
    assert dead.headers["x-rds-queue"] == topology.HEARTBEAT_QUEUE.name
    with transaction(session_factory) as session:
        assert session.get(Agent, name) is None
    assert "event 'agent_heartbeat'" in caplog.text


def test_only_heartbeats_travel_on_the_heartbeat_path(pruner, amqp_uri, caplog):
    """A (signed) task event sent to the heartbeat exchange is refused, not applied."""
    task_id = uuid.uuid4().hex
    event = agents.TaskLog(task_id=task_id, run_id=uuid.uuid4().hex, seq=1, text="hi")
    BusPublisher(amqp_uri, event_key=EVENT_KEY).publish_raw(
        topology.HEARTBEATS_EXCHANGE, agents.TASK_LOG, agents.TASK_LOG, event.to_wire())
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["task_id"] == task_id
    assert "expected 'agent_heartbeat'" in dead.headers["x-rds-reason"]


class ClaimingAgent:
    """An agent copy that only makes fencing claims (through its real runtime)."""

    name = "claimer"
    runtime = AgentRuntime()


@pytest.fixture
def queued_task(session_factory):
    """A committed build task nobody has claimed; cancelled afterwards so that no
    later reaper run ends it."""
    with transaction(session_factory) as session:
        task_id = factories.queued_release(session, "claim").tasks[0].id
    yield task_id
    with transaction(session_factory) as session:
        task = session.get(Task, task_id)
        task.status, task.finished_at = "cancelled", utcnow()


def claiming_agent(container_factory, amqp_uri, key):
    container = container_factory(ClaimingAgent, {
        "AMQP_URI": amqp_uri, "HEARTBEAT_INTERVAL": 60, "BUS_EVENT_KEY": key,
        "AGENT_NAME": "claim-%s/claimer/1" % uuid.uuid4().hex[:6], "CLAIM_TIMEOUT": 5})
    runtime = get_extension(container, AgentRuntime)
    container.start()
    return runtime


def task_row(session_factory, task_id):
    with transaction(session_factory) as session:
        task = session.get(Task, task_id)
        return task.status, task.run_id, task.fence


def test_a_signed_claim_is_granted(pruner, container_factory, amqp_uri, session_factory,
                                   queued_task):
    runtime = claiming_agent(container_factory, amqp_uri, EVENT_KEY)
    run_id = uuid.uuid4().hex
    assert runtime.claim(queued_task, run_id, START) == 1
    assert task_row(session_factory, queued_task) == ("running", run_id, 1)


def test_a_claim_signed_with_another_key_is_refused(pruner, container_factory, amqp_uri,
                                                    session_factory, queued_task, caplog):
    runtime = claiming_agent(container_factory, amqp_uri, COMMAND_KEY)
    with pytest.raises(ClaimRefused) as refused:
        runtime.claim(queued_task, uuid.uuid4().hex, START)
    assert "wrong signature" in str(refused.value) and not refused.value.cancelled
    assert task_row(session_factory, queued_task) == ("queued", None, 0)
    # its heartbeat, signed with the same wrong key, was dead-lettered: leave rds.dead empty
    assert next_dead_letter(amqp_uri).payload["agent"] == runtime.name


def test_an_unsigned_or_altered_claim_is_refused(pruner, amqp_uri, session_factory,
                                                 queued_task):
    """Straight through the RPC, as anyone with the AMQP login could call it."""
    request = ClaimRequest(task_id=queued_task, run_id=uuid.uuid4().hex,
                           agent="forger/builder/1", step=START).to_wire()
    signed_for_another_run = signing.sign_claim(
        signing.claim_signer({"BUS_EVENT_KEY": EVENT_KEY}), {**request, "run_id": "other"})
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
        unsigned = cluster.pruner.claim_task(request)
        altered = cluster.pruner.claim_task(request, signature=signed_for_another_run)
    assert not unsigned["granted"] and "unsigned claim" in unsigned["reason"]
    assert not altered["granted"] and "wrong signature" in altered["reason"]
    assert task_row(session_factory, queued_task) == ("queued", None, 0)
