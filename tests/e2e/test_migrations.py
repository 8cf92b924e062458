"""Project migrations end to end: a sample project whose migration script changes
a real PostgreSQL schema with ``psql`` (a throwaway database per test standing in
for the application's database), deployed to two real sshd servers; the
migrator runs the script over SSH on the migration host.

The stabilisation delay of post migrations is tested with an injected clock:
the test calls the control plane's ``apply_migration`` with ``now`` eight days
ahead (the same function the API calls with the real clock), never sleeps.
"""
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import timedelta

import psycopg2
import pytest
from sqlalchemy import select

from rds_testing import infra
from rds_web.client import ApiError
from tests.e2e.helpers import (
    BUILD_SCRIPT,
    activated,
    git,
    installed,
    new_repo,
    read_fifo,
)

pytestmark = pytest.mark.e2e

LIST_SCRIPT = """#!/bin/bash -e
cd "$projectDir"
for f in migrations/$type/*.up.sql; do
  [ -e "$f" ] || continue
  basename "$f" .up.sql
done
"""

MIGRATION_SCRIPT = """#!/bin/bash -e
echo "running $type migration $migrationName $command in $PWD on $(whoami)"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d %(db)s \\
  -f "migrations/$type/$migrationName.$command.sql"
echo "done"
"""


@pytest.fixture
def app_db():
    """The sample application's database: a throwaway one per test."""
    url = infra.create_database(name=infra.unique_name("app"))
    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE users (id int PRIMARY KEY, legacy text)")
    try:
        yield url, connection
    finally:
        connection.close()
        infra.drop_database(url)


def columns(connection, table="users"):
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_name = %s ORDER BY ordinal_position", (table,))
        return [row[0] for row in cursor.fetchall()]


def add_migration(repo, kind, name, up, down):
    folder = repo / "migrations" / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("%s.up.sql" % name)).write_text(up + "\n")
    (folder / ("%s.down.sql" % name)).write_text(down + "\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "migration %s" % name)


def make_project(rds_system, tmp_path, db_name):
    repo = new_repo(tmp_path / ("repo-%s" % uuid.uuid4().hex[:6]), "hello from v1")
    name = "mig-%s" % uuid.uuid4().hex[:8]
    rds_system.api.post("/projects", {
        "name": name, "repository": str(repo), "default_ref": "main",
        "deploy_path": "apps/%s" % name, "servers": rds_system.server_specs(),
        "scripts": {"build": BUILD_SCRIPT, "migrations": LIST_SCRIPT,
                    "migration": MIGRATION_SCRIPT % {"db": db_name}}})
    return name, repo


def migration(api, project, name):
    rows = api.get("/migrations?project=%s" % project)["migrations"]
    return next(m for m in rows if m["name"] == name)


def wait_migration(api, migration_id, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        data = api.get("/migrations/%d/wait?timeout=25" % migration_id)
        if data["state"] not in ("applying", "rolling_back"):
            return data
        if time.monotonic() > deadline:
            raise AssertionError("migration still %s" % data["state"])


def cli(rds_system, *args):
    """Run ``rds migration ARGS`` against the running system; its JSON output."""
    from click.testing import CliRunner

    from rds_web.cli import main

    result = CliRunner().invoke(main, ["migration", *args, "--json"], env={
        "RDS_URL": rds_system.url, "RDS_TOKEN": rds_system.token})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _seconds(start, end):
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def db_name(url):
    return url.rsplit("/", 1)[1]


def test_a_pending_pre_migration_gates_activation_until_it_ran(rds_system, tmp_path, app_db):
    url, connection = app_db
    api = rds_system.api
    name, repo = make_project(rds_system, tmp_path, db_name(url))
    activated(api, installed(api, name, "no migrations yet")["id"])

    add_migration(repo, "pre", "0001_add_email", "ALTER TABLE users ADD COLUMN email text;",
                  "ALTER TABLE users DROP COLUMN email;")
    v2 = installed(api, name, "adds a column")
    assert v2["pending_pre_migrations"] == ["0001_add_email"]
    assert not v2["actions"]["activate"]["allowed"]
    assert v2["actions"]["run_pre_migrations"]["allowed"]
    with pytest.raises(ApiError) as refused:
        api.post("/releases/%d/activate" % v2["id"])
    assert refused.value.status == 409 and "0001_add_email" in refused.value.message
    assert "email" not in columns(connection)

    started = time.monotonic()  # "Run pre migrations", through the CLI: rds migration run-pre
    v2 = cli(rds_system, "run-pre", str(v2["id"]), "--wait")
    activatable = time.monotonic() - started
    applied = api.get("/migrations/%d" % migration(api, name, "0001_add_email")["id"])
    assert applied["state"] == "applied", applied
    assert v2["actions"]["activate"]["allowed"] and v2["pending_pre_migrations"] == []
    assert v2["pre_migrations_status"] == "done"
    assert "email" in columns(connection)
    log = api.get("/migrations/%d?log=1" % applied["id"])["task"]["log"]
    assert "running pre migration 0001_add_email up in" in log
    assert "/apps/%s/releases/%s on rdsapp1" % (name, v2["version"]) in log  # first server
    activated(api, v2["id"])
    task = applied["task"]
    steps = api.get("/migrations/%d?log=1" % applied["id"])["task"]["steps"]["migrate"]
    print("\n'run pre migrations' to activatable: %.2fs (migrate step on the host: %.2fs, "
          "command queued to agent start: %.2fs)" % (
              activatable, _seconds(steps["started"], steps["finished"]),
              _seconds(task["created_at"], task["started_at"])))

    rolled_back = cli(rds_system, "rollback", str(applied["id"]), "--wait")
    assert rolled_back["state"] == "pending"
    listed = cli(rds_system, "list", "--project", name, "--type", "pre")["migrations"]
    assert [(m["name"], m["state"]) for m in listed] == [("0001_add_email", "pending")]
    assert "email" not in columns(connection)


def test_post_migration_waits_for_the_delay_then_sets_the_rollback_floor(
        rds_system, tmp_path, app_db):
    from rds_bus.publish import BusPublisher
    from rds_control import migrations, unit
    from rds_db.models import AuditEntry, User
    from rds_db.models.base import utcnow

    url, connection = app_db
    api = rds_system.api
    name, repo = make_project(rds_system, tmp_path, db_name(url))
    v1 = activated(api, installed(api, name, "first")["id"])
    add_migration(repo, "post", "0002_drop_legacy", "ALTER TABLE users DROP COLUMN legacy;",
                  "ALTER TABLE users ADD COLUMN legacy text;")
    v2 = installed(api, name, "stops reading legacy")
    assert v2["pending_pre_migrations"] == []  # post migrations never gate activation
    assert v2["pending_post_migrations"] == ["0002_drop_legacy"]
    v2 = activated(api, v2["id"])

    post = migration(api, name, "0002_drop_legacy")
    assert post["type"] == "post" and post["release_version"] == v2["version"]
    assert 6.9 < post["days_left"] <= 7
    with pytest.raises(ApiError) as refused:
        api.post("/migrations/%d/apply" % post["id"])
    assert refused.value.status == 409 and "day(s) from now" in refused.value.message

    def apply_later(session):
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        return migrations.apply_migration(session, post["id"], admin,
                                          now=utcnow() + timedelta(days=8)).id

    publisher = BusPublisher(rds_system.env["RDS_AMQP_URI"],  # signed like the web's
                             command_key=rds_system.env["RDS_BUS_COMMAND_KEY"])
    unit.run(rds_system.session_factory, publisher, apply_later)
    assert wait_migration(api, post["id"])["state"] == "applied"
    assert "legacy" not in columns(connection)
    assert api.get("/releases/%d" % v1["id"])["rollback_floor"] == v2["version"]

    with pytest.raises(ApiError) as below:
        api.post("/releases/%d/activate" % v1["id"])
    assert below.value.status == 403
    assert v2["version"] in below.value.message and "0002_drop_legacy" in below.value.message
    with pytest.raises(ApiError) as revert:
        api.post("/projects/%s/revert" % name)
    assert revert.value.status == 403 and "rollback floor" in revert.value.message

    activated(api, v1["id"], {"override_reason": "legacy column restored by hand"})
    with rds_system.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "release.floor_override",
            AuditEntry.release_id == v1["id"])).all()
    assert len(entries) == 1 and entries[0].actor == "admin"
    assert entries[0].details["reason"] == "legacy column restored by hand"


def test_a_failing_migration_shows_its_output_and_blocks_nothing_else(
        rds_system, tmp_path, app_db):
    url, connection = app_db
    api = rds_system.api
    name, repo = make_project(rds_system, tmp_path, db_name(url))
    other, _ = make_project(rds_system, tmp_path, db_name(url))
    add_migration(repo, "pre", "0003_broken", "ALTER TABLE no_such_table ADD COLUMN x int;",
                  "SELECT 1;")
    v1 = installed(api, name, "broken migration")
    api.post("/releases/%d/pre-migrations" % v1["id"])
    failed = wait_migration(api, migration(api, name, "0003_broken")["id"])
    assert failed["state"] == "failed"
    assert "no_such_table" in failed["last_error"] and "exited with status" in failed["last_error"]
    assert "no_such_table" in api.get("/migrations/%d?log=1" % failed["id"])["task"]["log"]
    v1 = api.get("/releases/%d" % v1["id"])
    assert v1["status"] == "installed" and v1["pre_migrations_status"] == "failed"
    assert not v1["actions"]["activate"]["allowed"]
    assert "0003_broken" in v1["actions"]["activate"]["reason"]
    # applying it again (CLI, --wait) fails the same way and says why
    from click.testing import CliRunner

    from rds_web.cli import main
    again = CliRunner().invoke(main, ["migration", "apply", str(failed["id"]), "--wait"],
                               env={"RDS_URL": rds_system.url, "RDS_TOKEN": rds_system.token})
    assert again.exit_code != 0 and "0003_broken failed" in again.output
    assert "no_such_table" in again.output
    # another project deploys as usual meanwhile
    activated(api, installed(api, other, "unaffected")["id"])
    assert columns(connection) == ["id", "legacy"]


def test_a_migrations_list_printing_garbage_fails_the_build_quoting_the_line(
        rds_system, tmp_path, app_db):
    url, _ = app_db
    api = rds_system.api
    name, _ = make_project(rds_system, tmp_path, db_name(url))
    api.request("PATCH", "/projects/%s" % name, {"scripts": {
        "migrations": "#!/bin/bash\necho fine_one\necho 'rm -rf /; echo pwned'\n"}})
    created = api.post("/projects/%s/releases" % name, {"comment": "garbage"})
    with pytest.raises(ApiError):
        api.wait_release(created["id"], {"installed"}, timeout=180)
    failed = api.get("/releases/%d" % created["id"])
    assert failed["status"] == "failed"
    assert "line 2: 'rm -rf /; echo pwned'" in failed["last_error"]
    assert api.get("/migrations?project=%s" % name)["migrations"] == []
    # a listing script that fails says so, with what it printed
    api.request("PATCH", "/projects/%s" % name, {"scripts": {
        "migrations": "echo cannot read migrations/$type >&2; exit 2\n"}})
    api.post("/releases/%d/rebuild" % created["id"])
    with pytest.raises(ApiError):
        api.wait_release(created["id"], {"installed"}, timeout=180)
    failed = api.get("/releases/%d" % created["id"])
    assert "migrations script exited with status 2 (type=pre)" in failed["last_error"]
    assert "cannot read migrations/pre" in failed["last_error"]


def test_cancelling_a_migration_kills_its_process_group_on_the_server(
        rds_system, tmp_path, app_db):
    url, _ = app_db
    api = rds_system.api
    name, repo = make_project(rds_system, tmp_path, db_name(url))
    shared = tempfile.mkdtemp(prefix="rds-mig-")  # the app server's user must reach it
    os.chmod(shared, 0o755)
    marker = os.path.join(shared, "pids")
    os.mkfifo(marker)
    os.chmod(marker, 0o666)
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"migration": (
        "#!/bin/bash\nsleep 300 &\necho \"$$ $!\" > %s\nwait\n" % marker)}})
    add_migration(repo, "pre", "0004_slow", "SELECT 1;", "SELECT 1;")
    v1 = installed(api, name, "slow migration")
    api.post("/releases/%d/pre-migrations" % v1["id"])
    pids = [int(p) for p in read_fifo(marker).split()]
    slow = migration(api, name, "0004_slow")
    api.post("/migrations/%d/cancel" % slow["id"])
    ended = wait_migration(api, slow["id"])
    assert ended["state"] == "failed" and ended["task"]["status"] == "cancelled"
    for pid in pids:  # the script and its child: killed (gone, or a zombie being reaped)
        assert not alive(pid)
    shutil.rmtree(shared, ignore_errors=True)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
