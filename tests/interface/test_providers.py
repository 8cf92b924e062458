"""Lifecycle of rds's nameko dependency providers, bound to a mock container."""
from unittest.mock import Mock

from nameko.containers import ServiceContainer
from sqlalchemy import text

from rds_bus.providers import Bus
from rds_bus.publish import BusPublisher
from rds_bus.runtime import AgentRuntime
from rds_contracts.agents import AgentHeartbeat
from rds_db.provider import Database


def bound(provider, config, service_name="builder"):
    """``(provider bound to a mock container, the container)``: keep the container
    referenced, providers only hold it weakly."""
    container = Mock(spec=ServiceContainer, config=config, service_name=service_name)
    return provider.bind(container, "dep"), container


def test_database_opens_short_transactions_and_disposes_its_engine(database_url):
    provider, _container = bound(Database(), {"DATABASE_URL": database_url})
    provider.setup()
    handle = provider.get_dependency(Mock())
    with handle.transaction() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    provider.stop()
    assert provider.engine.pool.checkedout() == 0


def test_bus_hands_out_a_publisher(amqp_uri):
    provider, _container = bound(Bus(), {"AMQP_URI": amqp_uri})
    provider.setup()
    assert isinstance(provider.get_dependency(Mock()), BusPublisher)


def test_agent_runtime_names_the_copy_and_announces_running_tasks(amqp_uri):
    provider, container = bound(AgentRuntime(), {
        "AMQP_URI": amqp_uri, "AGENT_POOL": "blue", "AGENT_NAME": "host-a",
        "HEARTBEAT_INTERVAL": 2})
    provider.setup()
    published = []
    provider.publisher.send_heartbeat = published.append
    runtime = provider.get_dependency(Mock())
    with runtime.running_task("a" * 32):
        assert published[-1].running_tasks == ["a" * 32]
    beat = published[-1]
    assert isinstance(beat, AgentHeartbeat) and beat.running_tasks == []
    assert beat.agent.startswith("host-a/builder/") and beat.pool == "blue"
    assert beat.interval == 2
    provider.start()
    container.spawn_managed_thread.assert_called_once()
