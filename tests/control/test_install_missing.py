"""A partial install has a way forward: install on the missing servers, from the same
verified tree; activation still requires every server."""
import pytest

from rds_contracts import builder
from rds_control import releases
from rds_control.errors import Conflict
from rds_control.installs import install_missing


def partly_installed(db_session, make_project, alice, agent_for):
    """A release whose upload failed on its second server (within the failure budget)."""
    project = make_project(upload_max_failures=1)
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[0])
    first, second = project.servers
    agent.start()
    agent.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="a" * 40, files=1, bytes=1)
    agent.send(builder.BUILD_INSTALLING, builder.BuildInstalling, servers=2)
    agent.send(builder.SERVER_READY, builder.ServerReady, server_id=first.id,
               manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
    agent.send(builder.BUILD_FINISHED, builder.BuildFinished, servers=[
        {"server_id": first.id, "ok": True},
        {"server_id": second.id, "ok": False, "error": "disk full"}])
    return project, release


def test_it_installs_only_on_the_missing_servers_from_the_verified_tree(
        db_session, make_project, alice, agent_for):
    project, release = partly_installed(db_session, make_project, alice, agent_for)
    first, second = project.servers
    assert release.status == "installed"
    with pytest.raises(Conflict, match="not ready on %s" % second.label):
        releases.activate_release(db_session, release.id, alice)

    install_missing(db_session, release.id, alice)
    task = release.tasks[-1]
    assert task.kind == "build" and task.status == "queued" and len(release.tasks) == 2
    assert [s["id"] for s in task.command["servers"]] == [second.id]
    assert task.command["ref"] == "a" * 40 and task.command["expect_manifest_sha256"] == "b" * 64

    agent = agent_for(task)
    agent.start()
    assert release.status == "installed"  # it never leaves installed meanwhile
    agent.send(builder.SERVER_READY, builder.ServerReady, server_id=second.id,
               manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
    agent.send(builder.BUILD_FINISHED, builder.BuildFinished,
               servers=[{"server_id": second.id, "ok": True}])
    assert release.status == "installed" and task.status == "succeeded"
    releases.activate_release(db_session, release.id, alice)
    assert release.status == "using"


def test_a_failed_install_on_the_missing_servers_leaves_the_release_installed(
        db_session, make_project, alice, agent_for):
    project, release = partly_installed(db_session, make_project, alice, agent_for)
    install_missing(db_session, release.id, alice)
    agent = agent_for(release.tasks[-1])
    agent.start()
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="pack",
               reason="the tree built again differs")
    assert release.status == "installed" and len(release.tasks) == 2  # no automatic retry
    assert release.tasks[-1].status == "failed"


def test_it_is_refused_when_every_server_is_ready(db_session, make_project, alice,
                                                  installed_release):
    release = installed_release()
    with pytest.raises(Conflict, match="installed on every server"):
        install_missing(db_session, release.id, alice)
    assert len(release.tasks) == 1
