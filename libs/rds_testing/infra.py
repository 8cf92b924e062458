"""Throwaway PostgreSQL databases and RabbitMQ vhosts for one test run."""
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2

DEFAULT_ADMIN_DB_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def unique_name(prefix: str) -> str:
    return "%s_%s" % (prefix, uuid.uuid4().hex[:10])


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _run_admin_sql(admin_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def create_database(admin_url: str = DEFAULT_ADMIN_DB_URL, name: str | None = None) -> str:
    """Create an empty database; returns its URL."""
    name = name or unique_name("rds_test")
    _run_admin_sql(admin_url, 'CREATE DATABASE "%s"' % name)
    return _with_path(admin_url, "/" + name)


def drop_database(url: str, admin_url: str = DEFAULT_ADMIN_DB_URL) -> None:
    name = urlsplit(url).path.lstrip("/")
    _run_admin_sql(admin_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@contextmanager
def migrated_database() -> Iterator[str]:
    """A fresh database migrated to head (``RDS_TEST_ADMIN_DB_URL`` creates it); dropped after."""
    from rds_db.migrate import upgrade

    admin_url = os.environ.get("RDS_TEST_ADMIN_DB_URL", DEFAULT_ADMIN_DB_URL)
    url = create_database(admin_url)
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(url, admin_url)


def create_vhost(base_uri: str = DEFAULT_AMQP_URI, name: str | None = None) -> str:
    """Create a RabbitMQ vhost (with rabbitmqctl) for guest; returns its AMQP URI."""
    name = name or unique_name("rds_test")
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest",
                    ".*", ".*", ".*"], check=True, stdout=subprocess.DEVNULL)
    return _with_path(base_uri, "/" + quote(name, safe=""))


def delete_vhost(uri: str) -> None:
    name = urlsplit(uri).path.lstrip("/")
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
