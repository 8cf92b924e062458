"""The gc service and the pruner's retention RPCs on real RabbitMQ and PostgreSQL."""
import os
import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from rds_bus import topology
from rds_bus.publish import BusPublisher
from rds_control import projects, users
from rds_db.session import transaction
from rds_gc.service import GcService
from rds_pruner.service import PrunerService
from rds_settings.nameko import SETTINGS_KEY
from rds_settings.settings import load
from tests.interface.test_dead_letters import next_dead_letter


@pytest.fixture
def config(amqp_uri, database_url, tmp_path):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "HEARTBEAT_INTERVAL": 60,
            SETTINGS_KEY: load({"RDS_AGENT_WORK_DIR": str(tmp_path / "agent"),
                                "RDS_GC_WORKSPACE_GRACE": "0"})}


def test_a_removal_that_escapes_its_directory_is_dead_lettered(container_factory, config,
                                                               amqp_uri):
    container = container_factory(GcService, config)
    container.start()
    command = "remove_release"
    BusPublisher(amqp_uri).publish_raw(
        topology.COMMANDS_EXCHANGE, topology.command_routing_key(command, "default"), command,
        {"task_id": uuid.uuid4().hex, "project": "shop", "version": "../../etc",
         "deploy_path": "apps/shop", "servers": [{"id": 1, "host": "h", "user": "u"}]},
        declare=[topology.command_queue(command, "default")])
    dead = next_dead_letter(amqp_uri)
    assert dead.payload["version"] == "../../etc"
    assert dead.headers["x-death"][0]["queue"] == "rds.gc.remove_release.default"


def test_the_gc_timer_cleans_the_host(container_factory, config, tmp_path):
    stale = tmp_path / "agent" / "uploads" / ("f" * 32)
    stale.mkdir(parents=True)
    (stale / "pack.tar").write_text("x")
    container = container_factory(GcService, config)
    container.start()
    with entrypoint_hook(container, "clean_host") as clean_host:
        assert clean_host() == 1
    assert not os.path.exists(stale)


def test_operators_get_the_retention_dry_run_and_can_check_servers(
        container_factory, config, session_factory):
    with transaction(session_factory) as session:
        user = users.create_user(session, "op-%s" % uuid.uuid4().hex[:6], "admin")
        name = projects.create_project(session, {
            "name": "rpc-%s" % uuid.uuid4().hex[:8], "repository": "/srv/git/x.git",
            "deploy_path": "apps/x", "servers": [{"host": "10.9.9.9", "user": "deploy"}],
            "scripts": {"build": "make"}}, user).name
    container = container_factory(PrunerService, config)
    container.start()
    with ServiceRpcProxy("pruner", config) as pruner:
        plan = pruner.retention_plan(name)
        started = pruner.check_servers(name)
        again = pruner.check_servers(name)
    assert plan == {"keep_releases": 5, "rollback_floor": None, "remove": [], "keep": []}
    assert len(started["task_id"]) == 32 and again == started
