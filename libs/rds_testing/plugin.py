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
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rds_testing import infra
from rds_testing.appservers import AppServer, ensure_keypair, free_port

if TYPE_CHECKING:
    pass

APP_USERS = ("rdsapp1", "rdsapp2")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with infra.migrated_database() as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from rds_db.session import make_engine

    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    from rds_db.session import make_session_factory

    return make_session_factory(engine)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture(scope="session")
def amqp_uri() -> Iterator[str]:
    uri = infra.create_vhost(os.environ.get("RDS_TEST_AMQP_URI", infra.DEFAULT_AMQP_URI))
    try:
        yield uri
    finally:
        infra.delete_vhost(uri)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_keypair(str(tmp_path_factory.mktemp("ssh") / "id_ed25519"))


@pytest.fixture(scope="session")
def app_servers(ssh_key: str) -> Iterator[list[AppServer]]:
    # not under pytest's tmp dir: it is mode 0700 root, and sshd reads
    # authorized_keys as the login user
    base = tempfile.mkdtemp(prefix="rds-appservers-")
    os.chmod(base, 0o755)
    servers: list[AppServer] = []
    try:
        for user in APP_USERS:
            servers.append(AppServer(os.path.join(base, user), free_port(), user,
                                     ssh_key + ".pub").start())
        yield servers
    finally:
        stoppers = [threading.Thread(target=server.stop) for server in servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        shutil.rmtree(base, ignore_errors=True)


class RunningSystem:
    """The whole of rds running as local processes, as the README starts it."""

    def __init__(self, url: str, token: str, var_dir: str, app_servers: list[AppServer],
                 session_factory: sessionmaker[Session], env: dict[str, str]) -> None:
        from rds_web.client import ApiClient

        self.url = url
        self.token = token
        self.var_dir = var_dir
        self.app_servers = app_servers
        self.session_factory = session_factory
        self.env = env
        self.api: ApiClient = ApiClient(url, token)

    def log(self, service: str) -> str:
        with open(os.path.join(self.var_dir, "log", service + ".log"), errors="replace") as f:
            return f.read()

    def server_specs(self) -> list[dict[str, object]]:
        return [{"host": "127.0.0.1", "port": s.port, "user": s.user} for s in self.app_servers]


@pytest.fixture(scope="session")
def rds_system(tmp_path_factory: pytest.TempPathFactory, database_url: str, amqp_uri: str,
               app_servers: list[AppServer], ssh_key: str,
               session_factory: sessionmaker[Session]) -> Iterator[RunningSystem]:
    """Start web, ingest, pruner and the five agent services against the test
    database and vhost; yields a ``RunningSystem`` logged in as an admin."""
    from rds_control import users
    from rds_db.session import transaction
    from rds_testing import localrun

    var_dir = str(tmp_path_factory.mktemp("rds-var"))
    port = free_port()
    env = localrun.service_env(var_dir, database_url, amqp_uri, extra={
        "RDS_SSH_KEY_PATH": ssh_key,
        "RDS_HEARTBEAT_INTERVAL": "1",
        "RDS_AGENT_TIMEOUT": "10",
        "RDS_LOG_LEVEL": "INFO",
    })
    with transaction(session_factory) as session:
        admin = users.create_user(session, "admin", "admin", password="admin-password")
        token, _ = users.issue_token(session, admin, "tests")
    localrun.start(var_dir, env, port=port)
    url = "http://127.0.0.1:%d" % port
    try:
        localrun.wait_ready(url, token, timeout=90, var_dir=var_dir)
        yield RunningSystem(url, token, var_dir, app_servers, session_factory, env)
    finally:
        localrun.stop(var_dir)
