"""pytest plugin of rds (registered through the ``pytest11`` entry point).

Fixtures, each real, none mocked:

* ``database_url``: a fresh PostgreSQL database for the test session,
  migrated to head with ``rds db upgrade``'s code path; dropped afterwards.
* ``session_factory`` / ``db_session``: sessions on it (``db_session`` is
  rolled back after each test).
* ``amqp_uri``: a fresh RabbitMQ vhost for the session; deleted afterwards.
* ``ssh_key``: a client key pair; ``app_servers``: two real sshd app servers
  on loopback ports, logins ``rdsapp1`` and ``rdsapp2`` (each with its own
  home, i.e. its own filesystem root).

Environment: ``RDS_TEST_ADMIN_DB_URL`` (default: postgres on 127.0.0.1:5432)
and ``RDS_TEST_AMQP_URI`` (default: guest on 127.0.0.1:5672).
"""
import os

import pytest

from rds_testing import infra
from rds_testing.appservers import AppServer, ensure_keypair, free_port

APP_USERS = ("rdsapp1", "rdsapp2")


@pytest.fixture(scope="session")
def database_url():
    from rds_db.migrate import upgrade

    admin_url = os.environ.get("RDS_TEST_ADMIN_DB_URL", infra.DEFAULT_ADMIN_DB_URL)
    url = infra.create_database(admin_url)
    try:
        upgrade(url)
        yield url
    finally:
        infra.drop_database(url, admin_url)


@pytest.fixture(scope="session")
def engine(database_url):
    from rds_db.session import make_engine

    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine):
    from rds_db.session import make_session_factory

    return make_session_factory(engine)


@pytest.fixture
def db_session(session_factory):
    session = session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture(scope="session")
def amqp_uri():
    uri = infra.create_vhost(os.environ.get("RDS_TEST_AMQP_URI", infra.DEFAULT_AMQP_URI))
    try:
        yield uri
    finally:
        infra.delete_vhost(uri)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory):
    return ensure_keypair(str(tmp_path_factory.mktemp("ssh") / "id_ed25519"))


@pytest.fixture(scope="session")
def app_servers(tmp_path_factory, ssh_key):
    base = tmp_path_factory.mktemp("appservers")
    servers = [AppServer(str(base / user), free_port(), user, ssh_key + ".pub").start()
               for user in APP_USERS]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
