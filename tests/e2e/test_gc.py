"""End to end through the running system: the gc agent answers over RabbitMQ.

Check servers (web → outbox → broker → gc agent → sshd → events → ingest) and a
removal queued the way the pruner queues it (relayed from the outbox by the
pruner). The tests wait on the change feed (PostgreSQL LISTEN), never sleep.
"""
import os
import select
import subprocess
import sys
import time

import psycopg2
import pytest
from sqlalchemy import select as sql_select

from rds_control import removal
from rds_db.models import Project, ReleaseRequest, Task
from rds_db.models.changes import NOTIFY_CHANNEL
from rds_db.session import transaction
from tests.e2e.helpers import activated, commit_page, installed

pytestmark = pytest.mark.e2e


def wait_until(database_url, check, timeout=120):
    """Re-check ``check()`` on every change-feed notification until it returns a value."""
    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    try:
        connection.cursor().execute("LISTEN %s" % NOTIFY_CHANNEL)
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such change within %ss" % timeout)
            if select.select([connection], [], [], left)[0]:
                connection.poll()
                connection.notifies.clear()
    finally:
        connection.close()


def finished_task(session_factory, task_id):
    def check():
        with transaction(session_factory) as session:
            task = session.get(Task, task_id)
            return task.status if task.finished_at is not None else None
    return check


def test_check_servers_and_removal_run_on_the_gc_agent(rds_system, project, database_url):
    api, (name, repo) = rds_system.api, project
    v1 = installed(api, name, "first")
    activated(api, v1["id"])
    commit_page(repo, "hello from v2")
    v2 = installed(api, name, "second")
    os.makedirs(rds_system.app_servers[1].path("apps", name, "releases", "junk"))

    task = api.post("/projects/%s/check-servers" % name)["task_id"]
    assert wait_until(database_url, finished_task(rds_system.session_factory, task)) \
        == "succeeded"
    servers = api.get("/projects/%s" % name)["servers"]
    assert servers[0]["drift"] == [] and servers[0]["inspected_at"]
    assert [i["kind"] for i in servers[1]["drift"]] == ["unknown"]
    assert "junk" in servers[1]["drift"][0]["detail"]

    # pinned over the CLI, then unpinned: the CLI verbs drive the same API
    env = dict(os.environ, RDS_URL=rds_system.url, RDS_TOKEN=rds_system.token)
    for verb, expected in (("pin", True), ("unpin", False)):
        rds = os.path.join(os.path.dirname(sys.executable), "rds")
        out = subprocess.run([rds, "release", verb, str(v2["id"]), "--json"], env=env,
                             check=True, capture_output=True, text=True).stdout
        assert ('"pinned": %s' % str(expected).lower()) in out

    # v2 is not live: remove it the way the pruner does (outbox; the pruner relays it)
    with transaction(rds_system.session_factory) as session:
        project_row = session.scalars(sql_select(Project).where(Project.name == name)).one()
        removal_id = removal.start_removal(
            session, project_row, session.get(ReleaseRequest, v2["id"])).id
    assert wait_until(database_url, finished_task(rds_system.session_factory, removal_id)) \
        == "succeeded"
    assert api.get("/releases/%d" % v2["id"])["destroyed"] is True
    for server in rds_system.app_servers:
        assert v2["version"] not in os.listdir(server.path("apps", name, "releases"))
        assert os.readlink(server.path("apps", name, "current")) == "releases/" + v1["version"]
