"""The pruner's operator RPCs, called through a real nameko RPC proxy (as
``nameko shell`` does) on RabbitMQ, against real PostgreSQL."""
import uuid
from datetime import timedelta

import pytest
from kombu import Connection
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from rds_bus import topology
from rds_contracts import agents, builder
from rds_control.ingest import apply_event
from rds_db.models import Task
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_pruner.service import PrunerService
from rds_settings.nameko import nameko_config
from rds_settings.settings import load
from tests import factories


@pytest.fixture
def pruner(container_factory, amqp_uri, database_url):
    # timers must not act on their own during a test: long grace and timeouts
    settings = load({"RDS_AMQP_URI": amqp_uri, "RDS_DATABASE_URL": database_url,
                     "RDS_OUTBOX_GRACE": "3600", "RDS_QUEUE_TIMEOUT": "3600"})
    container = container_factory(PrunerService, nameko_config("pruner", settings))
    container.start()
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
        yield cluster.pruner


@pytest.fixture
def queued_release(session_factory):
    """A release whose build task waits in pool ``<pool>`` (committed, as the web would)."""
    pool = "ops-%s" % uuid.uuid4().hex[:8]
    with transaction(session_factory) as session:
        release = factories.queued_release(session, "ops", pool=pool)
        return {"pool": pool, "project": release.project.name, "release_id": release.id,
                "task_id": release.tasks[0].id, "version": release.version}


def test_running_tasks_and_show_task(pruner, queued_release):
    running = {task["id"]: task for task in pruner.running_tasks()}
    task = running[queued_release["task_id"]]
    assert (task["kind"], task["status"], task["pool"], task["project"], task["version"]) == (
        "build", "queued", queued_release["pool"], queued_release["project"],
        queued_release["version"])
    detail = pruner.show_task(queued_release["task_id"])
    assert detail["release_id"] == queued_release["release_id"]
    assert detail["command"]["task_id"] == queued_release["task_id"]
    assert detail["finished_at"] is None and detail["error"] is None
    with pytest.raises(RemoteError) as info:
        pruner.show_task("no-such-task")
    assert info.value.exc_type == "NotFound"


def test_agents_lists_heartbeats(pruner, session_factory):
    name = "op-host/builder/%d" % (uuid.uuid4().int % 100000)
    with transaction(session_factory) as session:
        apply_event(session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
            agent=name, service="builder", pool="blue", host="op-host", pid=7, version="t",
            interval=1, at=utcnow()))
    listed = {agent["name"]: agent for agent in pruner.agents()}
    assert listed[name]["pool"] == "blue" and listed[name]["online"] is True


def test_resend_command_publishes_the_queued_command_again(pruner, queued_release, amqp_uri):
    assert pruner.resend_command(queued_release["task_id"]) == {
        "task_id": queued_release["task_id"], "resent": True}
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(topology.command_queue(builder.BUILD,
                                                              queued_release["pool"]))
        try:
            message = queue.get(block=True, timeout=10)
            message.ack()
        finally:
            queue.close()
    assert message.payload["task_id"] == queued_release["task_id"]


def test_resend_refuses_a_task_that_is_not_queued(pruner, queued_release, session_factory):
    with transaction(session_factory) as session:
        session.get(Task, queued_release["task_id"]).status = "running"
    with pytest.raises(RemoteError) as info:
        pruner.resend_command(queued_release["task_id"])
    assert info.value.exc_type == "Conflict" and "only queued" in str(info.value)


def test_reap_now_ends_a_task_nobody_took(pruner, queued_release, session_factory):
    with transaction(session_factory) as session:
        session.get(Task, queued_release["task_id"]).created_at = utcnow() - timedelta(hours=2)
    assert pruner.reap_now() >= 1
    with transaction(session_factory) as session:
        task = session.get(Task, queued_release["task_id"])
        assert task.status == "failed"
        assert "no agent of pool %s is online" % queued_release["pool"] in task.error
