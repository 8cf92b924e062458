"""Release bans and the deployment switch: setting, lifting, expiry (injected clock),
roles, audit, and what they block: new releases, rebuilds, automatic retries and
activations, never the rollback to the previous version."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rds_contracts import builder
from rds_control import controls, facts, policy, releases
from rds_control.errors import Conflict, InvalidInput, NotFound, Refused
from rds_db.models import AuditEntry, ReleaseBan, Task
from tests.control.test_activate_release import go_live

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def audit_actions(db_session, project):
    return list(db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.project_id == project.id).order_by(AuditEntry.id)))


def bans_of(db_session, project):
    return db_session.scalar(select(func.count(ReleaseBan.id)).where(
        ReleaseBan.project_id == project.id))


def test_a_ban_blocks_new_releases_rebuilds_and_activations_but_not_the_rollback(
        db_session, make_project, installed_release, alice, agent_for):
    project = make_project()
    v1, v2, v3 = (installed_release(project) for _ in range(3))
    go_live(db_session, v1, alice, agent_for)
    go_live(db_session, v2, alice, agent_for)
    ban = controls.set_ban(db_session, project.name, {"comment": "holiday freeze"}, alice)
    assert ban.release_line == 1 and ban.author.username == alice.username

    with pytest.raises(Refused, match="holiday freeze.*%s" % alice.username):
        releases.create_release(db_session, project.name, {}, alice)
    with pytest.raises(Refused, match="holiday freeze"):
        releases.rebuild_release(db_session, v3.id, alice)
    with pytest.raises(Refused, match="holiday freeze"):
        releases.activate_release(db_session, v3.id, alice)
    assert releases.revert_project(db_session, project.name, alice).id == v1.id
    assert audit_actions(db_session, project).count("ban.set") == 1


def test_a_lifted_ban_no_longer_blocks_and_cannot_be_lifted_twice(db_session, make_project,
                                                                  alice, make_user):
    project = make_project()
    ban = controls.set_ban(db_session, project.name, {"comment": "freeze"}, alice)
    other = make_user("deployer")
    lifted = controls.lift_ban(db_session, ban.id, other)
    assert lifted.lifted_by.username == other.username and lifted.lifted_at is not None
    assert releases.create_release(db_session, project.name, {}, alice).version == "1.00.001.1"
    with pytest.raises(Conflict, match="already lifted"):
        controls.lift_ban(db_session, ban.id, alice)
    with pytest.raises(NotFound):
        controls.lift_ban(db_session, ban.id + 10_000, alice)
    assert [a for a in audit_actions(db_session, project) if a.startswith("ban.")] \
        == ["ban.set", "ban.lifted"]


def test_expiry_is_honoured_with_an_injected_clock(db_session, make_project, alice):
    project = make_project()
    controls.set_ban(db_session, project.name,
                     {"comment": "until the release party", "expires_at": NOW + timedelta(hours=1)},
                     alice, now=NOW)
    before = facts.project_situation(db_session, project, alice, now=NOW + timedelta(minutes=59))
    after = facts.project_situation(db_session, project, alice, now=NOW + timedelta(hours=1))
    denial = policy.new_release(before, 1)
    assert denial is not None and "until 2030-01-01 13:00 UTC" in denial.reason
    assert policy.new_release(after, 1) is None
    assert [b.comment for b in controls.active_bans(db_session, project.name,
                                                    now=NOW + timedelta(minutes=1))] \
        == ["until the release party"]
    assert controls.active_bans(db_session, project.name, now=NOW + timedelta(hours=2)) == []
    with pytest.raises(Conflict, match="already expired"):
        controls.lift_ban(db_session, controls.active_bans(
            db_session, project.name, now=NOW)[0].id, alice, now=NOW + timedelta(hours=3))


def test_an_expired_ban_does_not_block_a_release(db_session, make_project, alice):
    project = make_project()
    db_session.add(ReleaseBan(project_id=project.id, release_line=1, comment="old freeze",
                              user_id=alice.id,
                              expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db_session.flush()
    assert releases.create_release(db_session, project.name, {}, alice).status == "new"


@pytest.mark.parametrize("data, field", [
    ({"comment": "x", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ({"comment": "x", "release_line": 7}, "release_line"),
    ({"comment": "   "}, "comment"),
    ({"comment": "a\x00b"}, "comment"),
    ({"comment": "x", "expires_at": "tomorrow"}, "expires_at"),
    ({"comment": "x", "release_line": "1e308"}, "release_line"),
    ({"comment": "x", "release_line": True}, "release_line"),
    ({"comment": "x", "release_line": 1.5}, "release_line"),
    ({"comment": "x", "colour": "red"}, "colour"),
])
def test_bad_ban_input_names_the_field_and_saves_nothing(db_session, make_project, alice,
                                                         data, field):
    project = make_project()
    with pytest.raises(InvalidInput) as refused:
        controls.set_ban(db_session, project.name, data, alice)
    assert refused.value.field == field
    assert bans_of(db_session, project) == 0


def test_viewers_may_not_set_or_lift_bans(db_session, make_project, make_user, alice):
    project = make_project()
    viewer = make_user("viewer")
    with pytest.raises(Refused, match="viewer"):
        controls.set_ban(db_session, project.name, {"comment": "no"}, viewer)
    ban = controls.set_ban(db_session, project.name, {"comment": "yes"}, make_user("admin"))
    with pytest.raises(Refused, match="viewer"):
        controls.lift_ban(db_session, ban.id, viewer)
    assert controls.lift_ban(db_session, ban.id, alice).lifted_at is not None


def test_a_ban_on_one_line_does_not_block_another(db_session, make_project, alice):
    from rds_control import lines

    project = make_project()
    releases.create_release(db_session, project.name, {}, alice)
    db_session.query(Task).filter_by(project_id=project.id).update(
        {"finished_at": datetime.now(UTC)})
    lines.create_line(db_session, project.name, {}, alice)
    controls.set_ban(db_session, project.name, {"comment": "line 1 frozen", "release_line": 1},
                     alice)
    with pytest.raises(Refused, match="line 1 frozen"):
        releases.create_release(db_session, project.name, {"release_line": 1}, alice)
    assert releases.create_release(db_session, project.name, {}, alice).version.startswith("2.")


def test_only_admins_flip_the_switch_and_it_needs_a_reason(db_session, make_user):
    deployer, admin = make_user("deployer"), make_user("admin")
    with pytest.raises(Refused, match="only an admin"):
        controls.set_switch(db_session, {"enabled": False, "reason": "x"}, deployer)
    with pytest.raises(InvalidInput) as refused:
        controls.set_switch(db_session, {"enabled": False, "reason": " "}, admin)
    assert refused.value.field == "reason"
    with pytest.raises(InvalidInput) as refused:
        controls.set_switch(db_session, {"enabled": "no", "reason": "x"}, admin)
    assert refused.value.field == "enabled"
    assert controls.deployment_switch(db_session).enabled
    switch = controls.set_switch(db_session, {"enabled": False, "reason": "incident"}, admin)
    assert (switch.enabled, switch.reason, switch.user.username) == (False, "incident",
                                                                     admin.username)
    with pytest.raises(Conflict, match="already switched off"):
        controls.set_switch(db_session, {"enabled": False, "reason": "again"}, admin)
    assert controls.set_switch(db_session, {"enabled": True}, admin).enabled
    assert list(db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.user_id == admin.id).order_by(AuditEntry.id))) == ["switch.off", "switch.on"]


def test_the_switch_blocks_new_releases_rebuilds_and_activations(
        db_session, make_project, installed_release, alice, make_user):
    project = make_project()
    release = installed_release(project)
    controls.set_switch(db_session, {"enabled": False, "reason": "incident 42"},
                        make_user("admin"))
    with pytest.raises(Refused, match="incident 42"):
        releases.create_release(db_session, project.name, {}, alice)
    with pytest.raises(Refused, match="incident 42"):
        releases.rebuild_release(db_session, release.id, alice)
    with pytest.raises(Refused, match="incident 42"):
        releases.activate_release(db_session, release.id, alice)


def fail_checkout(db_session, release, agent_for):
    agent = agent_for(release.tasks[-1])
    agent.start()
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="checkout",
               reason="git server away")


def build_tasks(db_session, release):
    return db_session.scalar(select(func.count(Task.id)).where(Task.release_id == release.id))


def test_a_failed_checkout_is_retried_automatically(db_session, make_project, alice,
                                                   agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    fail_checkout(db_session, release, agent_for)
    assert (release.status, release.build_attempts, build_tasks(db_session, release)) \
        == ("new", 2, 2)


def test_a_ban_stops_the_automatic_retry(db_session, make_project, alice, agent_for):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    controls.set_ban(db_session, project.name, {"comment": "freeze"}, alice)
    fail_checkout(db_session, release, agent_for)
    assert (release.status, release.build_attempts, build_tasks(db_session, release)) \
        == ("failed", 1, 1)
    assert "release.rebuilt" not in audit_actions(db_session, project)


def test_the_switch_stops_the_automatic_retry(db_session, make_project, alice, agent_for,
                                             make_user):
    project = make_project()
    release = releases.create_release(db_session, project.name, {}, alice)
    controls.set_switch(db_session, {"enabled": False, "reason": "incident"}, make_user("admin"))
    fail_checkout(db_session, release, agent_for)
    assert (release.status, build_tasks(db_session, release)) == ("failed", 1)
