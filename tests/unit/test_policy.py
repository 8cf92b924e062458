"""Every release action × status × condition, against ``rds_control.policy``.

The first table says what each status allows when nothing stands in the way;
the second says what each condition changes. Every answer the board renders,
the API reports and the control plane enforces comes from these functions.
"""
import dataclasses
from datetime import UTC, datetime

import pytest

from rds_control import policy
from rds_control.errors import Conflict, Refused
from rds_control.policy import Action, Ban, DenialKind, ProjectFacts, ReleaseFacts, Situation
from rds_core.lifecycle import IN_PROGRESS, Lane, ReleaseStatus

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
        A.PIN: (DenialKind.INAPPLICABLE, "is deleted")}),
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
]
#: ... in the statuses given (with a build running, installing on the missing servers
#: waits: see the test below the table).
ALSO_ALLOWS = {"pinned": {A.UNPIN: frozenset(S)},
               "not ready everywhere": {A.INSTALL_MISSING: frozenset({S.INSTALLED, S.OLD})}}


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
