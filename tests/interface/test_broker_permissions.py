"""Per-role RabbitMQ users (``rds_bus.permissions``): a real agent, ingest and
pruner run with them, and an agent login cannot publish a command at all, nor
read ingest's or the pruner's queues (real RabbitMQ)."""
import secrets
import subprocess
import uuid
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
from nameko.testing.services import entrypoint_waiter

from rds_builder.service import BuilderService
from rds_bus import permissions, topology
from rds_bus.publish import BusPublisher
from rds_contracts.ingest import INGEST_PROBE
from rds_db.models import Agent
from rds_db.session import transaction
from rds_ingest.service import IngestService
from rds_pruner.service import PrunerService
from rds_settings.nameko import nameko_config
from rds_settings.settings import load
from tests.interface.test_bus_signing import (
    COMMAND_KEY,
    EVENT_KEY,
    RecordingBuilder,
    build_command,
)


@pytest.fixture(scope="module")
def login_as(amqp_uri):
    """``login_as(role)`` -> the AMQP URI of a user with that role's permissions
    (one per role and module: rabbitmqctl takes seconds)."""
    created, uris = [], {}
    parts = urlsplit(amqp_uri)
    vhost = unquote(parts.path.lstrip("/"))

    def make(role):
        if role in uris:
            return uris[role]
        user, password = "rds-test-%s-%s" % (role, uuid.uuid4().hex[:8]), secrets.token_hex(8)
        for argv in permissions.rabbitmqctl_commands(role, user, password, vhost):
            subprocess.run(argv[:1] + ["-q"] + argv[1:], check=True, stdout=subprocess.DEVNULL)
        created.append(user)
        netloc = "%s:%s@%s" % (user, password, parts.hostname + (":%d" % parts.port
                                                                   if parts.port else ""))
        uris[role] = urlunsplit((parts.scheme, netloc, "/" + quote(vhost, safe=""), "", ""))
        return uris[role]
    yield make
    for user in created:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def config(uri, database_url, tmp_path):
    return {"AMQP_URI": uri, "DATABASE_URL": database_url, "HEARTBEAT_INTERVAL": 60,
            "AGENT_WORK_DIR": str(tmp_path / "agent"),
            "AGENT_NAME": "perm-%s" % uuid.uuid4().hex[:6],
            "BUS_COMMAND_KEY": COMMAND_KEY, "BUS_EVENT_KEY": EVENT_KEY}


def test_a_real_agent_ingest_and_pruner_run_with_their_role_logins(container_factory, login_as,
                                                                   database_url,
                                                                   session_factory, tmp_path):
    web = config(login_as("web"), database_url, tmp_path)
    ingest = container_factory(IngestService, web)
    ingest.start()
    settings = load({"RDS_AMQP_URI": web["AMQP_URI"], "RDS_DATABASE_URL": database_url,
                     "RDS_BUS_COMMAND_KEY": COMMAND_KEY, "RDS_BUS_EVENT_KEY": EVENT_KEY,
                     "RDS_OUTBOX_GRACE": "3600", "RDS_HEARTBEAT_INTERVAL": "60"})
    pruner = container_factory(PrunerService, nameko_config("pruner", settings))
    with entrypoint_waiter(ingest, "handle_events",  # the pruner's probe, through the events
                           callback=lambda worker_ctx, result, exc_info: exc_info is None and any(
                               name == INGEST_PROBE for name, _ in worker_ctx.args[0])):
        pruner.start()
    agent_config = config(login_as("agent"), database_url, tmp_path)
    builder = container_factory(BuilderService, agent_config)
    with entrypoint_waiter(pruner, "handle_heartbeat",
                           callback=lambda worker_ctx, result, exc_info:
                           worker_ctx.args[0].service == "builder" and exc_info is None):
        builder.start()  # declares its queues, takes commands, heartbeats on their path
    with transaction(session_factory) as session:
        names = [a.name for a in session.query(Agent).filter(
            Agent.name.startswith(agent_config["AGENT_NAME"] + "/builder/"))]
    assert len(names) == 1


def test_an_agent_login_cannot_read_the_heartbeat_or_event_queues(login_as):
    """It may publish heartbeats and events, but not take (steal) them."""
    from kombu import Connection

    for queue in (topology.HEARTBEAT_QUEUE, topology.INGEST_QUEUE):
        with Connection(login_as("agent")) as connection:
            with pytest.raises(Exception, match="ACCESS_REFUSED|access to queue"):
                connection.default_channel.basic_get(queue.name)


def test_the_web_login_sends_commands_the_agent_login_takes(container_factory, login_as,
                                                             database_url, tmp_path):
    RecordingBuilder.seen.clear()
    agent = container_factory(RecordingBuilder,
                              config(login_as("agent"), database_url, tmp_path))
    agent.start()
    command = build_command()
    with entrypoint_waiter(agent, "build"):
        BusPublisher(login_as("web"), command_key=COMMAND_KEY).send_command(command, "default")
    assert RecordingBuilder.seen == [command.task_id]


@pytest.mark.parametrize("broadcast", [False, True])
def test_an_agent_login_cannot_publish_a_command(login_as, broadcast):
    publisher = BusPublisher(login_as("agent"), command_key=COMMAND_KEY)
    send = publisher.broadcast_command if broadcast else publisher.send_command
    with pytest.raises(Exception, match="ACCESS_REFUSED|access to exchange"):
        send(build_command(), "default")
