"""Activation rules: what can go live, rollback, the switch, the lock."""
import pytest

from rds_control import releases
from rds_control.errors import Conflict, Refused
from rds_db.models import DeploymentSwitch, ReleaseBan, ReleaseTarget


def go_live(db_session, release, alice, agent_for):
    from rds_contracts import activator

    releases.activate_release(db_session, release.id, alice)
    agent = agent_for(release.tasks[-1], name="a/activator/1")
    agent.start()
    agent.send(activator.ACTIVATION_FINISHED, activator.ActivationFinished, servers=[])


def test_rollback_to_the_previous_version_is_allowed_while_deploys_are_stopped(
        db_session, make_project, installed_release, alice, agent_for):
    project = make_project()
    v1, v2, v3 = (installed_release(project) for _ in range(3))
    go_live(db_session, v1, alice, agent_for)
    go_live(db_session, v2, alice, agent_for)
    switch = db_session.get(DeploymentSwitch, 1)
    switch.enabled, switch.reason = False, "incident"
    db_session.add(ReleaseBan(project_id=project.id, release_line=1, comment="freeze"))
    with pytest.raises(Refused, match="incident"):
        releases.activate_release(db_session, v3.id, alice)
    assert releases.revert_project(db_session, project.name, alice).id == v1.id
    assert v1.status == "using"


def test_only_installed_or_old_releases_go_live(db_session, make_project, alice):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    with pytest.raises(Conflict, match="only installed or old"):
        releases.activate_release(db_session, release.id, alice)


def test_a_release_not_ready_on_every_server_cannot_go_live(db_session, make_project,
                                                            installed_release, alice):
    project = make_project()
    release = installed_release(project)
    db_session.query(ReleaseTarget).filter_by(release_id=release.id,
                                              server_id=project.servers[1].id).delete()
    with pytest.raises(Conflict, match="not ready on deploy@10.0.0.2"):
        releases.activate_release(db_session, release.id, alice)


def test_one_activation_at_a_time_but_builds_do_not_block_it(db_session, make_project,
                                                             installed_release, alice):
    project = make_project()
    v1, v2 = installed_release(project), installed_release(project)
    releases.create_release(db_session, project.name, {}, alice)  # a build is running
    releases.activate_release(db_session, v1.id, alice)
    with pytest.raises(Conflict, match="already activating"):
        releases.activate_release(db_session, v2.id, alice)
