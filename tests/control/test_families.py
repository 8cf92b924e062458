"""Parent/child projects: links without cycles, releases made together, the parent
installed only with every child, activation/revert/cancel of the whole family, and
all-or-nothing: one member failing to activate switches every other one back."""
import re

import pytest
from sqlalchemy import select

from rds_contracts import activator
from rds_control import controls, families, releases
from rds_control.errors import Conflict, InvalidInput, Refused
from rds_core.lifecycle import TaskKind
from rds_db.models import AuditEntry, ReleaseRequest, ReleaseTarget, Task


@pytest.fixture
def family(db_session, make_project, alice):
    """A parent project with two children."""
    parent, one, two = make_project(), make_project(), make_project()
    families.link(db_session, parent.name, {"child": one.name}, alice)
    families.link(db_session, parent.name, {"child": two.name}, alice)
    return parent, one, two


def release_family(db_session, family, alice, comment="together"):
    parent = releases.create_release(db_session, family[0].name, {"comment": comment}, alice)
    return [parent, *families.child_releases(db_session, parent)]


def install(agent_for, release):
    agent_for(release.tasks[-1]).install_everything(release.project)


def installed_family(db_session, family, alice, agent_for, comment="together"):
    """A release of the whole family, built and installed on every server."""
    members = release_family(db_session, family, alice, comment)
    for member in members:
        install(agent_for, member)
    return members


def activation_task(db_session, release):
    return db_session.scalars(select(Task).where(
        Task.release_id == release.id, Task.kind == TaskKind.ACTIVATE)
        .order_by(Task.created_at.desc())).first()


def finish_activation(db_session, agent_for, release, ok=True):
    agent = agent_for(activation_task(db_session, release), name="a/activator/1")
    agent.start()
    if ok:
        agent.send(activator.ACTIVATION_FINISHED, activator.ActivationFinished, servers=[])
    else:
        agent.send(activator.ACTIVATION_FAILED, activator.ActivationFailed,
                   reason="use script failed", rolled_back=True, servers=[])


def go_live_together(db_session, agent_for, alice, members):
    releases.activate_release(db_session, members[0].id, alice)
    for member in members:
        finish_activation(db_session, agent_for, member)
    assert {m.status for m in members} == {"used"}


def test_links_refuse_cycles_a_second_parent_and_self(db_session, make_project, alice):
    a, b, c, d = (make_project() for _ in range(4))
    families.link(db_session, a.name, {"child": b.name}, alice)
    families.link(db_session, b.name, {"child": c.name}, alice)
    for parent, child, message in (
            (c, a, "would make a cycle (%s → %s → %s → %s)" % (a.name, b.name, c.name, a.name)),
            (a, a, "cannot be its own child"),
            (d, c, "already a child of %s" % b.name),
            (a, b, "already a child of %s" % a.name)):
        with pytest.raises(InvalidInput, match=re.escape(message)) as refused:
            families.link(db_session, parent.name, {"child": child.name}, alice)
        assert refused.value.field == "child"
    with pytest.raises(InvalidInput, match="no project named") as refused:
        families.link(db_session, a.name, {"child": "nope"}, alice)
    assert refused.value.field == "child"
    assert families.family_summary(db_session, b)["children"] == [c.name]
    families.unlink(db_session, b.name, c.name, alice)
    families.link(db_session, d.name, {"child": c.name}, alice)
    assert families.family_summary(db_session, c)["parent"] == d.name


def test_a_release_of_the_parent_makes_one_of_every_child(db_session, family, alice):
    parent, one, two = release_family(db_session, family, alice, "ship it")
    assert [r.project.name for r in (one, two)] == sorted([family[1].name, family[2].name])
    assert {r.parent_id for r in (one, two)} == {parent.id}
    assert {r.comment for r in (parent, one, two)} == {"ship it"}
    assert all(r.tasks and r.tasks[0].kind == TaskKind.BUILD for r in (parent, one, two))


def test_a_ban_on_a_child_refuses_the_whole_release(db_session, family, alice):
    controls.set_ban(db_session, family[2].name, {"comment": "child frozen"}, alice)
    with pytest.raises(Refused, match="child project %s: .*child frozen" % family[2].name):
        with db_session.begin_nested():  # the request's transaction, rolled back
            releases.create_release(db_session, family[0].name, {}, alice)
    assert db_session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id.in_([p.id for p in family]))).all() == []


def test_the_parent_is_installed_only_when_every_child_is(db_session, family, alice,
                                                          agent_for):
    parent, one, two = release_family(db_session, family, alice)
    install(agent_for, parent)
    assert parent.status == "installing" and "waiting for" in parent.last_error
    install(agent_for, one)
    assert parent.status == "installing" and one.project.name not in parent.last_error
    install(agent_for, two)
    assert (parent.status, parent.last_error) == ("installed", None)
    assert "is installed with its children" in db_session.scalars(select(AuditEntry.message).where(
        AuditEntry.release_id == parent.id, AuditEntry.action == "release.installed")).one()


def test_a_child_that_fails_fails_its_waiting_parent(db_session, family, alice, agent_for):
    from rds_contracts import builder

    parent, one, two = release_family(db_session, family, alice)
    install(agent_for, parent)
    install(agent_for, one)
    agent = agent_for(two.tasks[-1])
    agent.start()
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="build", reason="exit 2")
    assert parent.status == "failed"
    assert "child %s %s failed" % (two.project.name, two.version) in parent.last_error


def test_activating_the_parent_activates_every_child_as_one_family(db_session, family, alice,
                                                                   agent_for):
    members = installed_family(db_session, family, alice, agent_for)
    releases.activate_release(db_session, members[0].id, alice)
    assert {m.status for m in members} == {"using"}
    tasks = [activation_task(db_session, m) for m in members]
    assert {t.family_task_id for t in tasks} == {tasks[0].id}


def test_a_child_that_cannot_go_live_refuses_the_whole_activation(db_session, family, alice,
                                                                   agent_for):
    members = installed_family(db_session, family, alice, agent_for)
    db_session.query(ReleaseTarget).filter_by(release_id=members[2].id).delete()
    with pytest.raises(Conflict, match="cannot activate: child project %s: .*not ready"
                       % members[2].project.name):
        with db_session.begin_nested():
            releases.activate_release(db_session, members[0].id, alice)
    db_session.expire_all()
    assert {m.status for m in members} == {"installed"}


def test_one_child_failing_to_activate_switches_every_member_back(db_session, family, alice,
                                                                  agent_for):
    first = installed_family(db_session, family, alice, agent_for, "v1")
    go_live_together(db_session, agent_for, alice, first)
    second = installed_family(db_session, family, alice, agent_for, "v2")
    releases.activate_release(db_session, second[0].id, alice)
    finish_activation(db_session, agent_for, second[0])            # parent went live
    finish_activation(db_session, agent_for, second[2], ok=False)  # a child failed
    # the parent, already live, is being switched back to its previous version
    assert (second[0].status, first[0].status) == ("used", "using")
    assert second[2].status == "installed"
    finish_activation(db_session, agent_for, second[1])  # the other child finished last
    assert first[1].status == "using"  # …and is switched back right away
    for member in (first[0], first[1]):
        finish_activation(db_session, agent_for, member)
    assert [m.status for m in first] == ["used", "used", "used"]
    assert [m.status for m in second] == ["old", "old", "installed"]
    switched = db_session.scalars(select(AuditEntry.message).where(
        AuditEntry.action == "release.family_switch_back")).all()
    assert len([m for m in switched if "failed to activate" in m]) >= 2


def test_revert_and_cancel_move_the_whole_family(db_session, family, alice, agent_for):
    first = installed_family(db_session, family, alice, agent_for, "v1")
    go_live_together(db_session, agent_for, alice, first)
    second = installed_family(db_session, family, alice, agent_for, "v2")
    go_live_together(db_session, agent_for, alice, second)
    assert releases.revert_project(db_session, family[0].name, alice).id == first[0].id
    assert [m.status for m in first] == ["using"] * 3
    for member in first:
        finish_activation(db_session, agent_for, member)
    assert [m.status for m in first] == ["used"] * 3

    third = release_family(db_session, family, alice, "v3")
    releases.cancel_release(db_session, third[0].id, alice)
    assert [m.status for m in third] == ["cancelled"] * 3


def test_after_a_switch_back_revert_goes_to_the_version_before(db_session, family, alice,
                                                               agent_for):
    versions = [installed_family(db_session, family, alice, agent_for, comment)
                for comment in ("v1", "v2", "v3")]
    go_live_together(db_session, agent_for, alice, versions[0])
    go_live_together(db_session, agent_for, alice, versions[1])
    releases.activate_release(db_session, versions[2][0].id, alice)
    finish_activation(db_session, agent_for, versions[2][0])
    finish_activation(db_session, agent_for, versions[2][1])
    finish_activation(db_session, agent_for, versions[2][2], ok=False)
    for member in versions[1][:2]:
        finish_activation(db_session, agent_for, member)  # the switch-backs
    assert [m.status for m in versions[1]] == ["used"] * 3
    assert releases.revert_project(db_session, family[0].name, alice).id == versions[0][0].id
