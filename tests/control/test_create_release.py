"""Creating a release: versions, locks, bans, the deployment switch."""
import threading
import uuid

import pytest

from rds_control import outbox, projects, releases, users
from rds_control.errors import Conflict, InvalidInput, NotFound, Refused
from rds_control.tasks import finish_task
from rds_core.lifecycle import TaskStatus
from rds_core.versions import version_key
from rds_db.models import DeploymentSwitch, OutboxMessage, ReleaseBan
from rds_db.session import transaction


def test_it_allocates_the_next_version_and_queues_a_build(db_session, make_project, alice):
    project = make_project()
    release = releases.create_release(db_session, project.name, {"comment": "hi"}, alice)
    assert (release.version, release.status, release.ref) == ("1.00.001.1", "new", "main")
    task = release.tasks[0]
    assert (task.kind, task.status, task.lane) == ("build", "queued", "build")
    sent = db_session.get(OutboxMessage, outbox.pending_ids(db_session)[0])
    assert sent.command == "build" and sent.body["version"] == "1.00.001.1"
    assert sent.body["servers"][0]["host"] == "10.0.0.1"


def test_a_second_build_of_a_busy_project_is_refused(db_session, make_project, alice):
    project = make_project()
    releases.create_release(db_session, project.name, {}, alice)
    with pytest.raises(Conflict, match="already building version 1.00.001.1"):
        releases.create_release(db_session, project.name, {}, alice)


def test_versions_continue_after_a_finished_build(db_session, make_project, installed_release):
    project = make_project()
    installed_release(project)
    assert installed_release(project).version == "1.00.002.2"


def test_a_ban_refuses_new_releases_and_changes_nothing(db_session, make_project, alice):
    project = make_project()
    db_session.add(ReleaseBan(project_id=project.id, release_line=1, comment="freeze"))
    db_session.flush()
    with pytest.raises(Refused, match="freeze"):
        releases.create_release(db_session, project.name, {}, alice)
    assert project.build_counter == 0 and not outbox.pending_ids(db_session)


def test_the_deployment_switch_refuses_new_releases(db_session, make_project, alice):
    project = make_project()
    db_session.get(DeploymentSwitch, 1).enabled = False
    db_session.get(DeploymentSwitch, 1).reason = "incident 42"
    with pytest.raises(Refused, match="incident 42"):
        releases.create_release(db_session, project.name, {}, alice)


@pytest.mark.parametrize("data, field", [({"ref": "--evil"}, "ref"),
                                         ({"comment": "x" * 3000}, "comment"),
                                         ({"surprise": 1}, "surprise")])
def test_bad_input_names_the_field(db_session, make_project, alice, data, field):
    project = make_project()
    with pytest.raises(InvalidInput) as info:
        releases.create_release(db_session, project.name, data, alice)
    assert info.value.field == field


def test_unknown_project(db_session, alice):
    with pytest.raises(NotFound):
        releases.create_release(db_session, "nope", {}, alice)


def test_a_project_without_servers_cannot_build(db_session, make_project, alice):
    project = make_project(servers=[])
    with pytest.raises(Conflict, match="no servers"):
        releases.create_release(db_session, project.name, {}, alice)


def _race_project(session_factory):
    name = "race-%s" % uuid.uuid4().hex[:8]
    with transaction(session_factory) as session:
        user = users.create_user(session, "racer-%s" % uuid.uuid4().hex[:6], "deployer")
        projects.create_project(session, {"name": name, "repository": "/r", "deploy_path": "a",
                                          "servers": [{"host": "h", "user": "u"}],
                                          "scripts": {"build": "make"}}, user)
    return name, user


def _in_threads(count, fn):
    """Run ``fn`` in ``count`` threads released at once; returns (results, errors)."""
    results, errors, barrier = [], [], threading.Barrier(count)

    def run():
        barrier.wait()
        try:
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_concurrent_creates_get_distinct_versions(session_factory):
    """Versions are allocated under a row lock: racing creates never share a number."""
    name, user = _race_project(session_factory)

    def create_and_finish():
        with transaction(session_factory) as session:
            release = releases.create_release(session, name, {}, user)
            # the build "finishes" in the same transaction: the lane is free again,
            # so only the version counter is raced for
            finish_task(session, release.tasks[-1], TaskStatus.SUCCEEDED)
            return release.version
    versions, errors = _in_threads(6, create_and_finish)
    assert errors == []
    assert sorted(versions, key=version_key) == [
        "1.00.%03d.%d" % (n, n) for n in range(1, 7)]


def test_one_build_per_project_at_a_time(session_factory):
    """Concurrent creates while builds run: one wins, the others are told it is busy."""
    name, user = _race_project(session_factory)

    def create():
        with transaction(session_factory) as session:
            return releases.create_release(session, name, {}, user).version
    versions, errors = _in_threads(4, create)
    assert len(versions) == 1 and len(errors) == 3
    assert all(isinstance(e, Conflict) and "already building" in str(e) for e in errors)


def test_scripts_keep_their_whitespace_and_names_are_trimmed(db_session, make_project):
    script = "#!/bin/bash -e\n  make \\\n    all\n"
    project = make_project(name="  trimmed-%s " % uuid.uuid4().hex[:6],
                           scripts={"build": script})
    assert project.name == project.name.strip() and project.script("build") == script
