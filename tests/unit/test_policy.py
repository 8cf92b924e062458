"""Every release action × status × condition, against ``rds_control.policy``.

The first table says what each status allows when nothing stands in the way;
the second says what each condition changes. Every answer the board renders,
the API reports and the control plane enforces comes from these functions.
"""
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from rds_control import policy
from rds_control.errors import Conflict, Refused
from rds_control.policy import (
    Action,
    Ban,
    DenialKind,
    Floor,
    MigrationFacts,
    ProjectFacts,
    ReleaseFacts,
    Situation,
    UnappliedPre,
)
from rds_core.lifecycle import ACTIVATABLE, IN_PROGRESS, Lane, ReleaseStatus
from rds_core.migrations import MigrationState, MigrationType

S = ReleaseStatus
A = Action

#: What each status allows with nothing in the way (latest release, lanes free,
#: deploys on, no ban, ready everywhere, a running build while in progress).
ALLOWED = {
    S.NEW: {A.CANCEL},
    S.BUILDING: {A.CANCEL},
    S.BUILT: {A.CANCEL},
    S.INSTALLING: {A.CANCEL},
    S.INSTALLED: {A.ACTIVATE, A.REBUILD, A.PIN, A.DELETE},
    S.USING: {A.PIN},
    S.USED: {A.REVERT, A.PIN},
    S.OLD: {A.ACTIVATE, A.PIN, A.DELETE},
    S.FAILED: {A.REBUILD, A.DELETE},
    S.CANCELLING: set(),
    S.CANCELLED: {A.REBUILD, A.DELETE},
}


def release_in(status, **changes):
    base = ReleaseFacts(id=7, version="1.00.007.7", release_line=1, status=status,
                        ever_activated=status in (S.USED, S.OLD, S.USING),
                        previous_version="1.00.006.6" if status == S.USED else None,
                        build_running=status in IN_PROGRESS)
    return dataclasses.replace(base, **changes)


PREVIOUS = ReleaseFacts(id=6, version="1.00.006.6", release_line=1, status=S.OLD,
                        ever_activated=True)


def situation_for(release, **changes):
    """The situation around ``release``: it is the latest; if it is live, 6 was before it."""
    live = release if release.status == S.USED else dataclasses.replace(
        PREVIOUS, id=5, version="1.00.005.5", status=S.USED, previous_version=None)
    project = ProjectFacts(name="shop", latest_release_id=release.id, live=live,
                           revert_target=PREVIOUS if release.status == S.USED else None)
    project_changes = {k: changes.pop(k) for k in list(changes)
                       if k in {f.name for f in dataclasses.fields(ProjectFacts)}}
    return Situation(project=dataclasses.replace(project, **project_changes), **changes)


def allowed(release, situation):
    return {action for action, denial in policy.evaluate(release, situation).items()
            if denial is None}


@pytest.mark.parametrize("status", list(S))
def test_each_status_allows_exactly_its_actions(status):
    release = release_in(status)
    assert allowed(release, situation_for(release)) == ALLOWED[status]


BAN = Ban(release_line=1, comment="code freeze", author="carol",
          expires_at=datetime(2026, 12, 24, 18, 0, tzinfo=UTC))

#: (condition, release changes, situation changes, {action: (kind, reason part)}).
#: Only the actions named change; each is checked on every status that allowed it.
#: A condition never allows more, except what ``ALSO_ALLOWS`` names.
CONDITIONS = [
    ("deleted", {"deleted": True}, {}, {
        A.ACTIVATE: (DenialKind.INAPPLICABLE, "was deleted"),
        A.REBUILD: (DenialKind.INAPPLICABLE, "was deleted"),
        A.DELETE: (DenialKind.INAPPLICABLE, "already deleted"),
        A.PIN: (DenialKind.INAPPLICABLE, "was deleted")}),
    ("destroyed", {"destroyed": True}, {}, {
        A.ACTIVATE: (DenialKind.INAPPLICABLE, "removed from the servers"),
        A.PIN: (DenialKind.INAPPLICABLE, "removed from the servers")}),
    ("being removed", {"removal_running": True}, {}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "being removed from the servers"),
        A.REBUILD: (DenialKind.BLOCKED, "being removed from the servers"),
        A.PIN: (DenialKind.BLOCKED, "being removed from the servers")}),
    ("pinned", {"pinned": True}, {}, {
        A.PIN: (DenialKind.INAPPLICABLE, "already pinned"),
        A.DELETE: (DenialKind.BLOCKED, "unpin it first")}),
    ("not ready everywhere", {"not_ready_on": ("deploy@web2:22",)}, {}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "not ready on deploy@web2:22")}),
    ("not ready everywhere, building", {"not_ready_on": ("deploy@web2:22",)},
     {"busy": {Lane.BUILD: "already building 1.00.009.9"}}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "not ready on deploy@web2:22"),
        A.REBUILD: (DenialKind.BLOCKED, "already building")}),
    ("activated once", {"ever_activated": True}, {}, {
        A.REBUILD: (DenialKind.INAPPLICABLE, "never-activated")}),
    ("not the latest", {}, {"latest_release_id": 99}, {
        A.REBUILD: (DenialKind.INAPPLICABLE, "only the latest release")}),
    ("activation lane busy", {}, {"busy": {Lane.ACTIVATE: "already activating 1.00.009.9"}}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "already activating"),
        A.REVERT: (DenialKind.BLOCKED, "already activating")}),
    ("build lane busy", {}, {"busy": {Lane.BUILD: "already building 1.00.009.9"}}, {
        A.REBUILD: (DenialKind.BLOCKED, "already building")}),
    ("project cannot build", {}, {"problem": "project shop has no servers to deploy to"}, {
        A.REBUILD: (DenialKind.BLOCKED, "no servers")}),
    ("deployment switched off", {}, {"deployments_enabled": False,
                                     "deployments_reason": "incident 42"}, {
        A.ACTIVATE: (DenialKind.FORBIDDEN, "incident 42"),
        A.REBUILD: (DenialKind.FORBIDDEN, "incident 42")}),
    ("banned on its line", {}, {"bans": (BAN,)}, {
        A.ACTIVATE: (DenialKind.FORBIDDEN, "code freeze (by carol, until 2026-12-24 18:00"),
        A.REBUILD: (DenialKind.FORBIDDEN, "code freeze")}),
    ("banned on another line", {}, {"bans": (dataclasses.replace(BAN, release_line=2),)}, {}),
    ("viewer", {}, {"can_deploy": False, "role": "viewer"},
     dict.fromkeys(A, (DenialKind.ROLE, "your role (viewer) may not deploy"))),
    # project migrations: the pre gate and the rollback floor
    ("pending pre migration of this release", {}, {"unapplied_pre": (
        UnappliedPre("0001_add_email", "1.00.007.7"),)}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "pending pre migrations: 0001_add_email; run them")}),
    ("pending pre migration of an older release", {}, {"unapplied_pre": (
        UnappliedPre("0000_index", "1.00.001.1"), UnappliedPre("0009_later", "1.00.009.9"))}, {
        A.ACTIVATE: (DenialKind.BLOCKED, "pending pre migrations: 0000_index;"),
        A.REVERT: (DenialKind.BLOCKED, "pending pre migrations: 0000_index;")}),
    ("pending pre migration of a newer release", {}, {"unapplied_pre": (
        UnappliedPre("0009_later", "1.00.009.9"),)}, {}),
    ("below the rollback floor", {}, {"floor": Floor("1.00.008.8", ("0002_drop_legacy",))}, {
        A.ACTIVATE: (DenialKind.FORBIDDEN, "older than the rollback floor 1.00.008.8 of shop: "
                                           "post migration 0002_drop_legacy ran"),
        A.REVERT: (DenialKind.FORBIDDEN, "1.00.006.6 is older than the rollback floor")}),
    ("at the rollback floor", {}, {"floor": Floor("1.00.007.7", ("0002_drop_legacy",))}, {
        A.REVERT: (DenialKind.FORBIDDEN, "older than the rollback floor 1.00.007.7")}),
    ("below the floor, admin override", {}, {
        "floor": Floor("1.00.008.8", ("0002_drop_legacy",)), "role": "admin",
        "floor_override": "restored the column by hand"}, {}),
    ("below the floor, deployer override", {}, {
        "floor": Floor("1.00.008.8", ("0002_drop_legacy",)), "role": "deployer",
        "floor_override": "please"}, {
        A.ACTIVATE: (DenialKind.FORBIDDEN, "an admin may override"),
        A.REVERT: (DenialKind.FORBIDDEN, "an admin may override")}),
]
#: ... in the statuses given (with a build running, installing on the missing servers
#: waits: see the test below the table).
ALSO_ALLOWS = {"pinned": {A.UNPIN: frozenset(S)},
               "not ready everywhere": {A.INSTALL_MISSING: frozenset({S.INSTALLED, S.OLD})},
               "pending pre migration of this release": {A.RUN_PRE_MIGRATIONS: ACTIVATABLE},
               "pending pre migration of an older release": {
                   A.RUN_PRE_MIGRATIONS: ACTIVATABLE}}


def also_allowed(name, status):
    return {action for action, statuses in ALSO_ALLOWS.get(name, {}).items()
            if status in statuses}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("name,release_changes,situation_changes,denied", CONDITIONS,
                         ids=[c[0] for c in CONDITIONS])
def test_each_condition_denies_exactly_what_it_should(status, name, release_changes,
                                                      situation_changes, denied):
    release = release_in(status, **release_changes)
    answers = policy.evaluate(release, situation_for(release, **situation_changes))
    for action in ALLOWED[status]:
        denial = answers[action]
        if action in denied:
            kind, reason = denied[action]
            assert denial is not None, "%s should deny %s" % (name, action)
            assert denial.kind == kind and reason in denial.reason, denial
        else:
            assert denial is None, "%s should not deny %s: %s" % (name, action, denial)
    for action in set(A) - ALLOWED[status] - also_allowed(name, status):
        assert answers[action] is not None, "%s should not allow %s" % (name, action)
    for action in also_allowed(name, status):
        assert answers[action] is None


@pytest.mark.parametrize("stop", [
    {"deployments_enabled": False, "deployments_reason": "incident"},
    {"bans": (BAN,)}])
def test_rolling_back_to_the_previous_version_is_never_stopped(stop):
    live = release_in(S.USED)
    situation = situation_for(live, **stop)
    assert policy.revert(live, situation) is None
    assert policy.activate(PREVIOUS, situation) is None  # the same rollback, by hand
    older = dataclasses.replace(PREVIOUS, id=3, version="1.00.003.3")
    denial = policy.activate(older, situation)  # not the previous one: stopped
    assert denial is not None and denial.kind == DenialKind.FORBIDDEN
    assert "only a rollback to the previous version is allowed" in denial.reason


def test_revert_needs_a_previous_version_that_still_exists():
    live = release_in(S.USED)
    assert "no longer exists" in policy.revert(live, situation_for(live, revert_target=None)).reason
    first = release_in(S.USED, previous_version=None)
    assert "no previous version" in policy.revert(first, situation_for(first)).reason
    not_ready = dataclasses.replace(PREVIOUS, not_ready_on=("deploy@web1:22",))
    assert "not ready on" in policy.revert(live, situation_for(
        live, revert_target=not_ready)).reason


def test_a_new_release_is_stopped_by_the_switch_a_ban_a_problem_or_a_build():
    situation = situation_for(release_in(S.INSTALLED))
    assert policy.new_release(situation, 1) is None
    for changes, kind, reason in [
            ({"deployments_enabled": False}, DenialKind.FORBIDDEN, "switched off"),
            ({"bans": (BAN,)}, DenialKind.FORBIDDEN, "code freeze"),
            ({"problem": "project shop has no build script"}, DenialKind.BLOCKED, "no build"),
            ({"busy": {Lane.BUILD: "already building"}}, DenialKind.BLOCKED, "building"),
            ({"can_deploy": False, "role": "viewer"}, DenialKind.ROLE, "viewer")]:
        denial = policy.new_release(situation_for(release_in(S.INSTALLED), **changes), 1)
        assert denial is not None and denial.kind == kind and reason in denial.reason
    assert policy.new_release(situation_for(release_in(S.INSTALLED), bans=(BAN,)), 2) is None


def test_require_raises_403_for_policy_and_role_409_for_state():
    policy.require(None)
    with pytest.raises(Refused):
        policy.require(policy.Denial("switched off", DenialKind.FORBIDDEN))
    with pytest.raises(Refused):
        policy.require(policy.Denial("viewer", DenialKind.ROLE))
    for kind in (DenialKind.BLOCKED, DenialKind.INAPPLICABLE):
        with pytest.raises(Conflict):
            policy.require(policy.Denial("busy", kind))


def test_the_board_shows_blocked_and_forbidden_actions_only():
    assert policy.Denial("x", DenialKind.BLOCKED).shown
    assert policy.Denial("x", DenialKind.FORBIDDEN).shown
    assert not policy.Denial("x", DenialKind.INAPPLICABLE).shown
    assert not policy.Denial("x", DenialKind.ROLE).shown


@pytest.mark.parametrize("status", [S.INSTALLED, S.OLD])
def test_installing_on_missing_servers_waits_for_a_running_build(status):
    release = release_in(status, not_ready_on=("deploy@web2:22",))
    denial = policy.install_missing(release, situation_for(
        release, busy={Lane.BUILD: "already building 1.00.009.9"}))
    assert denial.kind == DenialKind.BLOCKED and "already building" in denial.reason
    assert policy.install_missing(release, situation_for(release)) is None
    assert policy.install_missing(release, situation_for(
        release, deployments_enabled=False)) is None  # nothing goes live: not a deploy


def test_bans_are_changed_by_deployers_and_admins_the_switch_by_admins_only():
    project = ProjectFacts(name="shop")
    assert policy.change_ban(Situation(project=project, role="deployer")) is None
    denial = policy.change_ban(Situation(project=project, role="viewer", can_deploy=False))
    assert denial is not None and denial.kind == DenialKind.ROLE
    assert policy.flip_switch("admin") is None
    for role in ("deployer", "viewer", None):
        denial = policy.flip_switch(role)
        assert denial is not None and denial.kind == DenialKind.ROLE
        assert "only an admin" in denial.reason


def test_a_parent_action_needs_every_child_to_allow_it():
    blocked = policy.Denial("busy", DenialKind.BLOCKED)
    assert policy.family("activate", None, {"api": None, "web": None}) is None
    denial = policy.family("activate", None, {"api": None, "web": blocked})
    assert denial.reason == "cannot activate: child project web: busy"
    assert denial.kind == DenialKind.BLOCKED
    assert policy.family("activate", blocked, {"web": None}) is blocked


@pytest.mark.parametrize("parent, child, ancestors, current, message", [
    ("a", "a", [], None, "its own child"),
    ("c", "a", ["b", "a"], None, "would make a cycle (a → b → c → a)"),
    ("b", "a", ["a"], None, "would make a cycle (a → b → a)"),
    ("a", "b", [], "x", "already a child of x; unlink it there first"),
    ("a", "b", [], "a", "b is already a child of a"),
])
def test_links_refuse_cycles_and_second_parents(parent, child, ancestors, current, message):
    denial = policy.link_projects(parent, child, ancestors, current)
    assert denial is not None and message in denial.reason


def test_a_new_link_is_allowed():
    assert policy.link_projects("a", "d", ["root"], None) is None


PENDING_PRE = {"unapplied_pre": (UnappliedPre("0001_add_email", "1.00.007.7"),)}


@pytest.mark.parametrize("changes,release_changes,kind,reason", [
    ({"busy": {Lane.ACTIVATE: "already running migration 0001"}}, {}, DenialKind.BLOCKED,
     "already running migration"),
    ({}, {"not_ready_on": ("deploy@web2:22",)}, DenialKind.BLOCKED, "not ready on"),
    ({"deployments_enabled": False, "deployments_reason": "incident 42"}, {},
     DenialKind.FORBIDDEN, "incident 42"),
    ({"bans": (BAN,)}, {}, DenialKind.FORBIDDEN, "code freeze"),
    ({"can_deploy": False, "role": "viewer"}, {}, DenialKind.ROLE, "viewer"),
    ({}, {"deleted": True}, DenialKind.INAPPLICABLE, "deleted"),
    ({"migration_problem": "project shop has no migration script"}, {}, DenialKind.BLOCKED,
     "no migration script"),
])
def test_running_pre_migrations_is_stopped_like_a_deploy(changes, release_changes, kind,
                                                         reason):
    release = release_in(S.INSTALLED, **release_changes)
    assert policy.run_pre_migrations(release_in(S.INSTALLED),
                                     situation_for(release, **PENDING_PRE)) is None
    denial = policy.run_pre_migrations(release, situation_for(release, **PENDING_PRE,
                                                              **changes))
    assert denial is not None and denial.kind == kind and reason in denial.reason, denial


def test_only_an_admin_with_a_written_reason_may_override_the_floor():
    situation = situation_for(release_in(S.OLD))
    for role, reason, kind, words in [
            ("deployer", "why not", DenialKind.ROLE, "only an admin"),
            ("admin", "  ", DenialKind.INAPPLICABLE, "written reason"),
            ("admin", None, DenialKind.INAPPLICABLE, "written reason")]:
        denial = policy.floor_override(dataclasses.replace(situation, role=role), reason)
        assert denial is not None and denial.kind == kind and words in denial.reason
    assert policy.floor_override(dataclasses.replace(situation, role="admin"), "fixed") is None


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POST = MigrationFacts(name="0002_drop_legacy", type=MigrationType.POST,
                      state=MigrationState.PENDING, release_version="1.00.007.7",
                      release_activated_at=NOW - timedelta(days=7), introduced_live=True,
                      delay_days=7)


@pytest.mark.parametrize("changes,situation_changes,kind,reason", [
    ({}, {}, None, None),
    ({"release_activated_at": NOW - timedelta(days=6)}, {}, DenialKind.BLOCKED,
     "may run 1.0 day(s) from now"),
    ({"release_activated_at": NOW - timedelta(days=1), "delay_days": 0}, {}, None, None),
    ({"release_activated_at": None}, {}, DenialKind.BLOCKED, "only after its release"),
    ({"introduced_live": False}, {}, DenialKind.BLOCKED, "an older release is live now"),
    ({"release_version": None}, {}, DenialKind.BLOCKED, "(deleted)"),
    ({"state": MigrationState.FAILED}, {}, None, None),
    ({"state": MigrationState.APPLIED}, {}, DenialKind.INAPPLICABLE, "only a pending"),
    ({"state": MigrationState.APPLYING}, {}, DenialKind.INAPPLICABLE, "is applying"),
    ({}, {"busy": {Lane.ACTIVATE: "already activating"}}, DenialKind.BLOCKED, "already"),
    ({}, {"can_deploy": False, "role": "viewer"}, DenialKind.ROLE, "viewer"),
    ({}, {"deployments_enabled": False, "deployments_reason": "incident 42"},
     DenialKind.FORBIDDEN, "incident 42"),
    ({"release_line": 1}, {"bans": (BAN,)}, DenialKind.FORBIDDEN, "code freeze"),
    ({"release_line": 2}, {"bans": (BAN,)}, None, None),
    ({}, {"migration_problem": "project shop has no migration script"}, DenialKind.BLOCKED,
     "no migration script"),
    # a pre migration never waits
    ({"type": MigrationType.PRE, "release_activated_at": None, "introduced_live": False},
     {}, None, None),
], ids=lambda v: str(v)[:40])
def test_a_post_migration_runs_only_after_the_stabilisation_delay(changes, situation_changes,
                                                                  kind, reason):
    migration = dataclasses.replace(POST, **changes)
    denial = policy.apply_migration(migration, situation_for(release_in(S.USED),
                                                             **situation_changes), NOW)
    if kind is None:
        assert denial is None, denial
    else:
        assert denial is not None and denial.kind == kind and reason in denial.reason, denial


def test_days_left_counts_from_the_activation_of_the_introducing_release():
    assert policy.post_days_left(POST, NOW) == 0
    assert policy.post_days_left(POST, NOW - timedelta(days=2)) == pytest.approx(2)
    assert policy.post_days_left(dataclasses.replace(POST, release_activated_at=None),
                                 NOW) is None


@pytest.mark.parametrize("state,allowed", [
    (MigrationState.APPLIED, True), (MigrationState.ROLLBACK_FAILED, True),
    (MigrationState.PENDING, False), (MigrationState.FAILED, False),
    (MigrationState.ROLLING_BACK, False)])
def test_only_an_applied_migration_can_be_rolled_back(state, allowed):
    migration = dataclasses.replace(POST, state=state)
    denial = policy.rollback_migration(migration, situation_for(release_in(S.USED)))
    assert (denial is None) == allowed, denial
    stopped = situation_for(release_in(S.USED), deployments_enabled=False, bans=(BAN,))
    assert (policy.rollback_migration(migration, stopped) is None) == allowed  # a repair
    no_script = situation_for(release_in(S.USED), migration_problem="no migration script")
    assert policy.rollback_migration(migration, no_script) is not None
