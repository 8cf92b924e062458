"""Every rule about which action a release (or a project) allows right now.

One function per action. Each takes the release as the rules see it
(:class:`ReleaseFacts`) and its :class:`Situation` (the project's state, the
deployment switch, bans, busy lanes, who asks) and returns ``None`` when the
action is allowed, or a :class:`Denial` whose ``reason`` a person can read.

The same function answers every caller, so they cannot disagree:

* the control plane enforces it (``rds_control.releases`` calls
  :func:`require` under the row locks, with facts loaded in that transaction);
* the board renders a row's buttons from :func:`evaluate`, disabled buttons
  carrying the reason as their tooltip;
* the API reports ``actions: {"activate": {"allowed": false, "reason": "…"}}``.

How a denial is shown depends on its :class:`DenialKind`:

========== ============================================== ====== ==========
kind       meaning                                        HTTP   board
========== ============================================== ====== ==========
inapplicable the action makes no sense in this state       409    no button
blocked    it would, but something is in the way now      409    disabled
           (a busy lane, servers not ready)
forbidden  a policy forbids it (deployment switch, ban)   403    disabled
role       the user's role lacks the permission           403    no button
========== ============================================== ====== ==========

Rules from the SPEC kept here: only ``installed``/``old`` releases go live;
the deployment switch and release bans block new releases, rebuilds (manual
and automatic) and activations, but never the rollback to the version that
was live before; one build and one activation per project at a time; only
the latest, never-activated release can be rebuilt under its version;
pending pre migrations block activation ("Run pre migrations" instead); a
post migration runs only after the stabilisation delay; nothing older than
the rollback floor goes live unless an admin overrides with a reason.

Plain module: no database, no Flask, no nameko (``rds_control.facts`` loads
the facts; the table-driven test in ``tests/unit/test_policy.py`` covers
every action × status × condition).
"""
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rds_control.errors import Conflict, ControlError, Refused
from rds_core import versions
from rds_core.lifecycle import ACTIVATABLE, IN_PROGRESS, REBUILDABLE, Lane, ReleaseStatus
from rds_core.migrations import APPLICABLE, ROLLBACKABLE, MigrationState, MigrationType
from rds_core.roles import Role

S = ReleaseStatus


class Action(enum.StrEnum):
    ACTIVATE = "activate"
    REVERT = "revert"
    REBUILD = "rebuild"
    CANCEL = "cancel"
    DELETE = "delete"
    PIN = "pin"
    UNPIN = "unpin"
    RUN_PRE_MIGRATIONS = "run_pre_migrations"
    INSTALL_MISSING = "install_missing"


class DenialKind(enum.StrEnum):
    INAPPLICABLE = "inapplicable"
    BLOCKED = "blocked"
    FORBIDDEN = "forbidden"
    ROLE = "role"


@dataclass(frozen=True)
class Denial:
    """Why an action is not allowed now (``reason`` is shown to people as it is).

    Always true, so the checks of an action chain as ``_role(s) or _gone(r) or …``:
    the first denial wins.
    """

    reason: str
    kind: DenialKind = DenialKind.INAPPLICABLE

    def __str__(self) -> str:
        return self.reason

    @property
    def shown(self) -> bool:
        """Whether the board shows the action anyway (disabled, with the reason)."""
        return self.kind in (DenialKind.BLOCKED, DenialKind.FORBIDDEN)


@dataclass(frozen=True)
class ReleaseFacts:
    """What the rules need to know about one release."""

    id: int
    version: str
    release_line: int
    status: ReleaseStatus
    deleted: bool = False
    destroyed: bool = False
    pinned: bool = False
    ever_activated: bool = False
    #: The version live before this one was last activated (the revert target).
    previous_version: str | None = None
    #: Servers of the project on which the release is not uploaded and verified.
    not_ready_on: tuple[str, ...] = ()
    #: An unfinished build task of this release exists.
    build_running: bool = False
    #: An unfinished removal (gc) task of this release exists.
    removal_running: bool = False


@dataclass(frozen=True)
class Ban:
    """An active release ban of a project on one release line."""

    release_line: int
    comment: str
    author: str | None = None
    expires_at: datetime | None = None

    def describe(self) -> str:
        who = " (by %s" % self.author if self.author else " ("
        until = ("until %s" % self.expires_at.strftime("%Y-%m-%d %H:%M UTC")
                 if self.expires_at is not None else "no expiry")
        return "%s%s%s)" % (self.comment, who, (", " if self.author else "") + until)


@dataclass(frozen=True)
class ProjectFacts:
    """The state of a release's project that the rules read."""

    name: str
    #: Why the project cannot build at all (no servers, no build script), or None.
    problem: str | None = None
    #: Id of the newest non-deleted release (None when not loaded or none exists).
    latest_release_id: int | None = None
    #: The live (``used``) release, if any.
    live: ReleaseFacts | None = None
    #: The release ``live.previous_version`` names, if it still exists.
    revert_target: ReleaseFacts | None = None
    #: What each busy deploy lane is doing (a sentence), by lane.
    busy: Mapping[Lane, str] = field(default_factory=dict)
    #: Active (not lifted, not expired) release bans.
    bans: tuple[Ban, ...] = ()
    #: The rollback floor: no release older than this one may go live again.
    floor: "Floor | None" = None
    #: The project's pre migrations not yet applied (see :func:`pending_pre`).
    unapplied_pre: tuple["UnappliedPre", ...] = ()
    #: The project's post migrations not yet applied (shown; they gate nothing).
    unapplied_post: tuple["UnappliedPre", ...] = ()
    #: Why the project cannot run migrations (no migration script), or None.
    migration_problem: str | None = None

    def bans_on(self, line: int) -> tuple[Ban, ...]:
        return tuple(b for b in self.bans if b.release_line == line)


@dataclass(frozen=True)
class Situation:
    """Everything around a release the rules depend on, and who asks."""

    project: ProjectFacts
    deployments_enabled: bool = True
    deployments_reason: str | None = None
    #: The asking user's role allows deploying (None: the system itself acts).
    role: str | None = None
    can_deploy: bool = True
    #: An admin's written reason to go below the rollback floor (one request only).
    floor_override: str | None = None


Rule = Callable[[ReleaseFacts, Situation], Denial | None]


def _inapplicable(reason: str) -> Denial:
    return Denial(reason, DenialKind.INAPPLICABLE)


def _blocked(reason: str) -> Denial:
    return Denial(reason, DenialKind.BLOCKED)


def _forbidden(reason: str) -> Denial:
    return Denial(reason, DenialKind.FORBIDDEN)


def _blocked_by(reason: str | None) -> Denial | None:
    """A blocker when there is a ``reason`` (a busy lane's sentence, a project's problem)."""
    return _blocked(reason) if reason else None


def _gone(release: ReleaseFacts) -> Denial | None:
    """A deleted release, or one removed from the servers, has nothing left to act on."""
    if release.deleted:
        return _inapplicable("release %s was deleted" % release.version)
    if release.destroyed:
        return _inapplicable("release %s was removed from the servers" % release.version)
    return None


def _busy(situation: Situation, lane: Lane) -> Denial | None:
    """What the project's ``lane`` is busy with, if anything (one task per lane)."""
    return _blocked_by(situation.project.busy.get(lane))


def _cannot_build(situation: Situation) -> Denial | None:
    """A build is running, or the project cannot build at all (no servers, no script)."""
    return _busy(situation, Lane.BUILD) or _blocked_by(situation.project.problem)


def _cannot_migrate(situation: Situation) -> Denial | None:
    """Migrations run in the activation lane, and need the project's migration script."""
    return _busy(situation, Lane.ACTIVATE) or _blocked_by(situation.project.migration_problem)


def _role(situation: Situation) -> Denial | None:
    if not situation.can_deploy:
        return Denial("your role (%s) may not deploy" % (situation.role or "none"),
                      DenialKind.ROLE)
    return None


def is_rollback_to_previous(release: ReleaseFacts, situation: Situation) -> bool:
    """Whether activating ``release`` returns to the version live before the live one."""
    live = situation.project.live
    return live is not None and live.previous_version == release.version


def _deploys_stopped(situation: Situation, line: int, what: str) -> Denial | None:
    """The switch or a ban on ``line``, if either stops ``what`` now."""
    if not situation.deployments_enabled:
        return _forbidden("deployment is switched off: %s%s" % (
            situation.deployments_reason or "no reason given", what))
    bans = situation.project.bans_on(line)
    if bans:
        return _forbidden("releases of %s on line %d are banned: %s%s" % (
            situation.project.name, line, "; ".join(b.describe() for b in bans), what))
    return None


_ONLY_ROLLBACK = " (only a rollback to the previous version is allowed)"


def _activation(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """May ``release`` be switched live (role already checked)?"""
    if denial := _gone(release):
        return denial
    if release.removal_running:
        return _being_removed(release)
    if release.status not in ACTIVATABLE:
        return _inapplicable("only installed or old releases can be activated; %s is %s"
                             % (release.version, release.status))
    if denial := _busy(situation, Lane.ACTIVATE):
        return denial
    if not is_rollback_to_previous(release, situation):
        if denial := _deploys_stopped(situation, release.release_line, _ONLY_ROLLBACK):
            return denial
    if denial := pre_migration_gate(release, situation) or below_floor(release, situation):
        return denial
    if release.not_ready_on:
        return _blocked("release %s is not ready on %s (its upload there failed or never "
                        "happened); it must be installed on every server first"
                        % (release.version, ", ".join(release.not_ready_on)))
    return None


def _being_removed(release: ReleaseFacts) -> Denial:
    return _blocked("release %s is being removed from the servers (retention)"
                    % release.version)


def activate(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Switch the release live on every server (an older one: rollback)."""
    return _role(situation) or _activation(release, situation)


def revert(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Activate the version that was live before ``release`` (the live one)."""
    if denial := _role(situation):
        return denial
    if release.status != S.USED:
        return _inapplicable("only the live release can be reverted; %s is %s"
                             % (release.version, release.status))
    if not release.previous_version:
        return _inapplicable("%s %s has no previous version to revert to"
                             % (situation.project.name, release.version))
    target = situation.project.revert_target
    if target is None or target.version != release.previous_version:
        return _blocked("previous version %s no longer exists" % release.previous_version)
    return _activation(target, situation)


def rebuild(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Build the latest release again under the same version (also automatic retries)."""
    if denial := _role(situation):
        return denial
    if release.deleted:
        return _inapplicable("release %s was deleted" % release.version)
    if release.status not in REBUILDABLE or release.ever_activated:
        return _inapplicable("only a failed, cancelled or never-activated installed release "
                             "can be rebuilt; %s is %s" % (release.version, release.status))
    latest = situation.project.latest_release_id
    if latest is not None and latest != release.id:
        return _inapplicable("only the latest release of %s can be rebuilt"
                             % situation.project.name)
    if release.removal_running:
        return _being_removed(release)
    return _cannot_build(situation) or _deploys_stopped(situation, release.release_line, "")


def cancel(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Cancel the release's running build."""
    if denial := _role(situation):
        return denial
    if release.status not in IN_PROGRESS:
        return _inapplicable("only a release that is building can be cancelled; %s is %s"
                             % (release.version, release.status))
    if not release.build_running:
        return _inapplicable("release %s has no running build" % release.version)
    return None


#: Statuses in which a release cannot be deleted.
UNDELETABLE = IN_PROGRESS | {S.USING, S.USED, S.CANCELLING}


def delete(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Soft-delete the release (its files go with the next garbage collection)."""
    if denial := _role(situation):
        return denial
    if release.deleted:
        return _inapplicable("release %s is already deleted" % release.version)
    if release.status in UNDELETABLE:
        return _inapplicable("release %s is %s; cancel it or activate another version first"
                             % (release.version, release.status))
    if release.pinned:
        return _blocked("release %s is pinned; unpin it first" % release.version)
    return None


#: Statuses of a release that exists on the servers (what pinning protects).
PINNABLE = frozenset({S.INSTALLED, S.USING, S.USED, S.OLD})


def pin(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Keep the release on the servers whatever the retention policy says."""
    if denial := _role(situation):
        return denial
    if release.pinned:
        return _inapplicable("release %s is already pinned" % release.version)
    if denial := _gone(release):
        return denial
    if release.status not in PINNABLE:
        return _inapplicable("only a release installed on the servers can be pinned; %s is %s"
                             % (release.version, release.status))
    if release.removal_running:
        return _being_removed(release)
    return None


def unpin(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Let the retention policy decide about the release again."""
    if denial := _role(situation):
        return denial
    if not release.pinned:
        return _inapplicable("release %s is not pinned" % release.version)
    return None


def install_missing(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Install the release on the servers where it is not ready, from the same verified tree.

    Not a deploy: nothing goes live, so neither the switch nor a ban stops it; activation
    still requires every server.
    """
    if denial := _role(situation) or _gone(release):
        return denial
    if release.status not in ACTIVATABLE:
        return _inapplicable("only an installed or old release can be installed on its missing "
                             "servers; %s is %s" % (release.version, release.status))
    if not release.not_ready_on:
        return _inapplicable("release %s is installed on every server" % release.version)
    return _cannot_build(situation)


# --- project migrations (pre gate, rollback floor, running migrations) -----------------
#
# Pre migrations change the database the live code also uses, so they run
# before the switch, never after: a release with pending pre migrations cannot
# go live until they ran ("Run pre migrations"). Post migrations (dropping
# what old code still reads) run only after the project's stabilisation delay,
# counted from the activation of the release that introduced them, and only
# explicitly; once one ran, that release is the rollback floor: nothing older
# may go live again, unless an admin overrides with a written reason.

ADMIN_ROLE = Role.ADMIN


@dataclass(frozen=True)
class Floor:
    """The release that introduced the newest post migration in effect."""

    version: str
    #: The post migrations of that release that ran.
    migrations: tuple[str, ...]


@dataclass(frozen=True)
class UnappliedPre:
    """A migration of the project that is not applied (pending, failed, running)."""

    name: str
    #: The release it first appeared in (None: that release is gone, so every release
    #: needs it).
    release_version: str | None


def pending_pre(release: ReleaseFacts, situation: Situation) -> tuple[str, ...]:
    """The unapplied pre migrations ``release`` needs: its own and older releases'."""
    if not situation.project.unapplied_pre:  # (the usual case: no key to compute)
        return ()
    key = versions.version_key(release.version)
    return tuple(m.name for m in situation.project.unapplied_pre
                 if m.release_version is None
                 or versions.version_key(m.release_version) <= key)


@dataclass(frozen=True)
class MigrationFacts:
    """What the rules need to know about one migration."""

    name: str
    type: MigrationType
    state: MigrationState
    #: The release it first appeared in (None: that release is gone).
    release_version: str | None
    #: When that release was first activated (None: never).
    release_activated_at: datetime | None = None
    #: The live release is that release or a newer one.
    introduced_live: bool = False
    delay_days: int = 7
    #: Release line of that release (bans are per line); None: unknown.
    release_line: int | None = None


def pre_migration_gate(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Pending pre migrations block the activation of a release that needs them."""
    pending = pending_pre(release, situation)
    if pending:
        return _blocked("release %s has pending pre migrations: %s; run them first "
                        "(Run pre migrations)" % (release.version, ", ".join(pending)))
    return None


def is_below_floor(version: str, floor: Floor | None) -> bool:
    return floor is not None and versions.version_key(version) < versions.version_key(
        floor.version)


def below_floor(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """A release older than the rollback floor may go live only by an admin's override."""
    floor = situation.project.floor
    if not is_below_floor(release.version, floor):
        return None
    assert floor is not None
    if situation.floor_override and situation.role == ADMIN_ROLE:
        return None
    return _forbidden("%s is older than the rollback floor %s of %s: post migration %s ran "
                      "there, so older code may not work with the database; an admin may "
                      "override with a written reason"
                      % (release.version, floor.version, situation.project.name,
                         ", ".join(floor.migrations)))


def floor_override(situation: Situation, reason: str | None) -> Denial | None:
    """May this user go below the rollback floor with ``reason``?"""
    if situation.role != ADMIN_ROLE:
        return Denial("only an admin may override the rollback floor", DenialKind.ROLE)
    if not reason or not reason.strip():
        return _inapplicable("overriding the rollback floor needs a written reason")
    return None


def run_pre_migrations(release: ReleaseFacts, situation: Situation) -> Denial | None:
    """Run the release's pending pre migrations in order (then it may be activated)."""
    if denial := _role(situation) or _gone(release):
        return denial
    if release.status not in ACTIVATABLE:
        return _inapplicable("pre migrations run for an installed or old release; %s is %s"
                             % (release.version, release.status))
    if not pending_pre(release, situation):
        return _inapplicable("release %s has no pending pre migrations" % release.version)
    if denial := _cannot_migrate(situation):
        return denial
    if release.not_ready_on:
        return _blocked("release %s is not ready on %s; its migrations run in its directory"
                        % (release.version, ", ".join(release.not_ready_on)))
    return _deploys_stopped(situation, release.release_line, "")


def _days_left(migration: MigrationFacts, now: datetime) -> float | None:
    if migration.release_activated_at is None:
        return None
    ready_at = migration.release_activated_at.timestamp() + migration.delay_days * 86400
    return max(0.0, (ready_at - now.timestamp()) / 86400)


def post_days_left(migration: MigrationFacts, now: datetime) -> float | None:
    """Days before a post migration may run (None: its release never went live)."""
    return _days_left(migration, now)


def apply_migration(migration: MigrationFacts, situation: Situation,
                    now: datetime) -> Denial | None:
    """Run one migration ``up`` (a post one only after the stabilisation delay); stopped,
    like deploys, by the deployment switch and by a ban on its release's line."""
    if denial := _role(situation):
        return denial
    if migration.state not in APPLICABLE:
        return _inapplicable("migration %s is %s; only a pending or failed migration can be "
                             "applied" % (migration.name, migration.state))
    # (release gone: no line, so only the switch can stop it)
    line = migration.release_line if migration.release_line is not None else -1
    if denial := _cannot_migrate(situation) or _deploys_stopped(situation, line, ""):
        return denial
    if migration.type == MigrationType.POST:
        if migration.release_version is None or migration.release_activated_at is None:
            return _blocked("post migration %s runs only after its release %s went live"
                            % (migration.name, migration.release_version or "(deleted)"))
        if not migration.introduced_live:
            return _blocked("post migration %s needs release %s (or newer) live; an older "
                            "release is live now" % (migration.name, migration.release_version))
        left = _days_left(migration, now)
        if left:
            return _blocked("post migration %s may run %.1f day(s) from now (stabilisation "
                            "delay of %d days after %s went live)"
                            % (migration.name, left, migration.delay_days,
                               migration.release_version))
    return None


def rollback_migration(migration: MigrationFacts, situation: Situation) -> Denial | None:
    """Run one applied migration ``down`` (a repair: the deployment switch and bans,
    which stop applying migrations, never stop this)."""
    if denial := _role(situation):
        return denial
    if migration.state not in ROLLBACKABLE:
        return _inapplicable("migration %s is %s; only an applied migration can be rolled back"
                             % (migration.name, migration.state))
    return _cannot_migrate(situation)


RULES: dict[Action, Rule] = {
    Action.ACTIVATE: activate,
    Action.REVERT: revert,
    Action.REBUILD: rebuild,
    Action.CANCEL: cancel,
    Action.DELETE: delete,
    Action.PIN: pin,
    Action.UNPIN: unpin,
    Action.INSTALL_MISSING: install_missing,
    Action.RUN_PRE_MIGRATIONS: run_pre_migrations,
}


def evaluate(release: ReleaseFacts, situation: Situation) -> dict[Action, Denial | None]:
    """Every action's answer for one release: ``None`` (allowed) or a Denial."""
    return {action: rule(release, situation) for action, rule in RULES.items()}


def new_release(situation: Situation, line: int) -> Denial | None:
    """May a new version of the project be built on release line ``line``?"""
    return (_role(situation) or _deploys_stopped(situation, line, "")
            or _blocked_by(situation.project.problem) or _busy(situation, Lane.BUILD))


# -- bans and the deployment switch themselves --------------------------------

def change_ban(situation: Situation) -> Denial | None:
    """Set or lift a release ban of the situation's project (deployers and admins)."""
    return _role(situation)


def flip_switch(role: str | None) -> Denial | None:
    """Stop or resume every deploy with the global switch (admins only)."""
    if role != Role.ADMIN:
        return Denial("only an admin may switch deployment on or off (your role: %s)"
                      % (role or "none"), DenialKind.ROLE)
    return None


# -- parent/child projects -----------------------------------------------------

def family(action: Action, parent: Denial | None,
           children: Mapping[str, Denial | None]) -> Denial | None:
    """A parent's action is allowed only if it is for the parent and every child that
    takes part (``children``: the child project's name → its own answer)."""
    if parent is not None:
        return parent
    for name, denial in children.items():
        if denial is not None:
            return Denial("cannot %s: child project %s: %s" % (action, name, denial.reason),
                          denial.kind)
    return None


def link_projects(parent: str, child: str, ancestors_of_parent: Sequence[str],
                  parent_of_child: str | None) -> Denial | None:
    """May ``child`` become a child of ``parent``? (no cycles, one parent per project)"""
    if child == parent:
        return _inapplicable("a project cannot be its own child")
    if child in ancestors_of_parent:
        return _inapplicable("linking %s under %s would make a cycle (%s)" % (
            child, parent, " → ".join([child, *reversed(ancestors_of_parent[
                :list(ancestors_of_parent).index(child)]), parent, child])))
    if parent_of_child == parent:
        return _inapplicable("%s is already a child of %s" % (child, parent))
    if parent_of_child is not None:
        return _inapplicable("%s is already a child of %s; unlink it there first"
                             % (child, parent_of_child))
    return None


def require(denial: Denial | None) -> None:
    """Raise the control-plane error for a denial (403 policy/role, 409 state)."""
    if denial is None:
        return
    error: type[ControlError] = (
        Refused if denial.kind in (DenialKind.FORBIDDEN, DenialKind.ROLE) else Conflict)
    raise error(denial.reason)
