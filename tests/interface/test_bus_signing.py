"""Only signed commands reach an agent and only signed events reach ingest; events
that reach beyond their task are dead-lettered with the reason (real RabbitMQ)."""
import uuid

import pytest
from nameko.testing.services import entrypoint_waiter

from rds_bus import topology
from rds_bus.entrypoints import command_handler
from rds_bus.publish import BusPublisher
from rds_contracts import agents, builder
from rds_db.models import Agent
from rds_db.session import transaction
from rds_ingest.service import IngestService
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
    with entrypoint_waiter(container, "handle_events"):  # its own first heartbeat: so none
        container.start()                               # is left for the next test's consumer
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
