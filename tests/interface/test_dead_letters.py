"""Malformed messages are dead-lettered with a logged reason, never retried;
valid ones are handled and acked (real RabbitMQ, real PostgreSQL)."""
import uuid

import pytest
from kombu import Connection
from nameko.testing.services import entrypoint_waiter

from rds_builder.service import BuilderService
from rds_bus import topology
from rds_bus.entrypoints import QUEUE_HEADER, REASON_HEADER
from rds_bus.publish import BusPublisher
from rds_contracts import agents
from rds_db.models import Agent
from rds_db.session import transaction
from rds_ingest.service import IngestService
from rds_settings.nameko import SETTINGS_KEY
from rds_settings.settings import load


@pytest.fixture
def config(amqp_uri, database_url, tmp_path):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "HEARTBEAT_INTERVAL": 60,
            SETTINGS_KEY: load({"RDS_AGENT_WORK_DIR": str(tmp_path / "agent")})}


def next_dead_letter(amqp_uri, timeout=10):
    """Block until a message arrives in rds.dead (fails the test after ``timeout``)."""
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(topology.DEAD_QUEUE)
        try:
            message = queue.get(block=True, timeout=timeout)
            message.ack()
            return message
        finally:
            queue.close()


def test_a_malformed_event_is_dead_lettered(container_factory, config, amqp_uri, caplog):
    container = container_factory(IngestService, config)
    container.start()
    publisher = BusPublisher(amqp_uri)
    publisher.publish_raw(topology.EVENTS_EXCHANGE, agents.TASK_LOG, agents.TASK_LOG,
                          {"task_id": "not-a-task", "text": 42})
    dead = next_dead_letter(amqp_uri)
    assert dead.headers[topology.TYPE_HEADER] == agents.TASK_LOG
    assert dead.headers[QUEUE_HEADER] == topology.INGEST_QUEUE.name
    assert "task_id" in dead.headers[REASON_HEADER]
    assert "task_id" in caplog.text and "dead-lettering" in caplog.text


def test_a_valid_event_is_applied(container_factory, config, amqp_uri, session_factory):
    """(A heartbeat among the events, as agents of an older version send them.)"""
    container = container_factory(IngestService, config)
    container.start()
    name = "host-%s/builder/1" % uuid.uuid4().hex[:6]
    # wait for this heartbeat, not the ingest container's own first one
    with entrypoint_waiter(container, "handle_events", callback=lambda worker_ctx, result,
                           exc_info: any(getattr(event, "agent", None) == name
                                         for _, event in worker_ctx.args[0])):
        BusPublisher(amqp_uri).send_event(agents.AgentHeartbeat(
            agent=name, service="builder", pool="default", host="h", pid=1, version="t",
            interval=5, at="2026-01-01T00:00:00Z"))
    with transaction(session_factory) as session:
        assert session.get(Agent, name).service == "builder"


def test_a_malformed_command_never_reaches_the_builder(container_factory, config, amqp_uri):
    container = container_factory(BuilderService, config)
    container.start()
    publisher = BusPublisher(amqp_uri)
    pool = "default"
    publisher.publish_raw(topology.COMMANDS_EXCHANGE, topology.command_routing_key("build", pool),
                          "build", {"task_id": uuid.uuid4().hex, "project": "../../etc"},
                          declare=[topology.command_queue("build", pool)])
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["project"] == "../../etc"
    assert dead.headers[QUEUE_HEADER] == "rds.builder.build.default"
    assert "project" in dead.headers[REASON_HEADER]
