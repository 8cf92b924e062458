"""Project migrations in the control plane, on a real PostgreSQL database:
recording listings, one migration task per project, the "Run pre migrations"
chain, failures, the reaper, the migration host and the rollback floor."""
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rds_contracts import migrator
from rds_contracts.migrator import MigrationListing
from rds_control import migrations, projects, releases
from rds_control.errors import Conflict, InvalidInput
from rds_control.reaper import reap
from rds_core.lifecycle import Lane, TaskKind, TaskStatus
from rds_db.models import Migration, Task
from rds_db.models.base import utcnow
from tests.control.conftest import Agent


def installed_with(db_session, installed_release, project, pre=(), post=()):
    """A release whose build listed ``pre``/``post`` migrations."""
    release = installed_release(project)
    migrations.record_listing(db_session, release,
                              MigrationListing(pre=list(pre), post=list(post)))
    return release


def rows(db_session, project):
    return {m.name: m for m in db_session.scalars(
        select(Migration).where(Migration.project_id == project.id))}


@pytest.fixture
def project(make_project):
    return make_project(scripts={"build": "make", "migration": "psql -f $migrationName.sql"})


def finish(db_session, migration, name=migrator.MIGRATION_FINISHED, **fields):
    agent = Agent(db_session, migration.task_id, name="host1/migrator/1")
    agent.start()
    schema = {migrator.MIGRATION_FINISHED: migrator.MigrationFinished,
              migrator.MIGRATION_FAILED: migrator.MigrationFailed}[name]
    agent.send(name, schema, **fields)
    return agent


def test_a_known_name_keeps_the_release_it_first_appeared_in(
        db_session, installed_release, project):
    v1 = installed_with(db_session, installed_release, project, pre=["0001_a"])
    v2 = installed_with(db_session, installed_release, project, pre=["0001_a", "0002_b"],
                        post=["0003_c"])
    found = rows(db_session, project)
    assert {n: (m.type, m.release_id, m.state) for n, m in found.items()} == {
        "0001_a": ("pre", v1.id, "pending"), "0002_b": ("pre", v2.id, "pending"),
        "0003_c": ("post", v2.id, "pending")}


def test_one_migration_task_per_project_at_a_time(db_session, installed_release, project,
                                                  alice):
    installed_with(db_session, installed_release, project, pre=["0001_a", "0002_b"])
    found = rows(db_session, project)
    migrations.apply_migration(db_session, found["0001_a"].id, alice)
    with pytest.raises(Conflict, match="already running migration 0001_a"):
        migrations.apply_migration(db_session, found["0002_b"].id, alice)
    with pytest.raises(Conflict, match="is applying"):  # a double click
        migrations.apply_migration(db_session, found["0001_a"].id, alice)
    # the database itself refuses a second active task in the lane
    first = db_session.get(Task, found["0001_a"].task_id)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(Task(id="f" * 32, kind=TaskKind.MIGRATE, lane=Lane.ACTIVATE,
                            project_id=project.id, pool="default", command={},
                            status=TaskStatus.QUEUED))
        db_session.flush()
    assert first.finished_at is None


def test_run_pre_migrations_runs_them_in_order_then_activation_is_allowed(
        db_session, installed_release, project, alice):
    v1 = installed_with(db_session, installed_release, project, pre=["0001_a"])
    v2 = installed_with(db_session, installed_release, project, pre=["0002_b"])
    with pytest.raises(Conflict, match="pending pre migrations: 0001_a, 0002_b"):
        releases.activate_release(db_session, v2.id, alice)
    migrations.run_pre_migrations(db_session, v2.id, alice)
    found = rows(db_session, project)
    first = found["0001_a"]
    command = db_session.get(Task, first.task_id).command
    assert command["version"] == v2.version and command["direction"] == "up"
    assert command["host"]["host"] == "10.0.0.1"  # the first server by default
    finish(db_session, first)
    assert first.state == "applied" and found["0002_b"].state == "applying"
    finish(db_session, found["0002_b"])
    assert v2.migration_status == "done"
    releases.activate_release(db_session, v2.id, alice)
    assert v2.status == "using"
    assert v1.id  # v1's migration ran as part of v2's chain


def test_a_failing_pre_migration_stops_the_chain_with_its_output(
        db_session, installed_release, project, alice):
    v1 = installed_with(db_session, installed_release, project, pre=["0001_a", "0002_b"])
    migrations.run_pre_migrations(db_session, v1.id, alice)
    found = rows(db_session, project)
    agent = finish(db_session, found["0001_a"], migrator.MIGRATION_FAILED,
                   reason="psql: relation \"nope\" does not exist", exit_status=3)
    assert found["0001_a"].state == "failed" and "nope" in found["0001_a"].last_error
    assert found["0002_b"].state == "pending" and v1.migration_status == "failed"
    assert "0001_a" in v1.last_error
    # a duplicate of the terminal event changes nothing
    agent.send(migrator.MIGRATION_FINISHED, migrator.MigrationFinished)
    assert found["0001_a"].state == "failed"


def test_the_reaper_fails_a_migration_whose_agent_went_silent(
        db_session, installed_release, project, alice):
    installed_with(db_session, installed_release, project, pre=["0001_a"])
    migration = rows(db_session, project)["0001_a"]
    migrations.apply_migration(db_session, migration.id, alice)
    Agent(db_session, migration.task_id, name="gone/migrator/1").start()
    reap(db_session, now=utcnow() + timedelta(minutes=5))
    assert migration.state == "failed" and "stopped sending heartbeats" in migration.last_error


def test_the_migration_host_is_configurable_and_must_be_a_server(
        db_session, installed_release, project, alice):
    with pytest.raises(InvalidInput) as bad:
        projects.update_project(db_session, project, {"migration_server": "x@y:22"}, alice)
    assert bad.value.field == "migration_server"
    projects.update_project(db_session, project,
                            {"migration_server": "deploy@10.0.0.2:22"}, alice)
    installed_with(db_session, installed_release, project, pre=["0001_a"])
    migration = rows(db_session, project)["0001_a"]
    migrations.apply_migration(db_session, migration.id, alice)
    assert db_session.get(Task, migration.task_id).command["host"]["host"] == "10.0.0.2"


def test_the_rollback_floor_is_the_release_of_the_newest_post_migration_in_effect(
        db_session, installed_release, project, alice):
    v1 = installed_with(db_session, installed_release, project, post=["0001_p"])
    v2 = installed_with(db_session, installed_release, project, post=["0002_p"])
    assert migrations.rollback_floor(db_session, project) is None
    found = rows(db_session, project)
    found["0001_p"].state = "applied"
    db_session.flush()
    assert migrations.rollback_floor(db_session, project.id).version == v1.version
    found["0002_p"].state = "rollback_failed"  # its change may still be there
    db_session.flush()
    floor = migrations.rollback_floor(db_session, project)
    assert (floor.version, floor.migrations) == (v2.version, ("0002_p",))
    # retention (GC) keeps everything from the floor up: it reads the same floor
    from rds_control import removal
    assert removal.rollback_floor(db_session, project) == v2.version
