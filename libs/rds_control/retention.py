"""Which releases of a project may leave the servers: the retention plan.

One plain function, :func:`plan`, answers for every caller (the pruner that
schedules removals, the project page that shows them, ``nameko shell``'s dry
run), so they cannot disagree. It reads :class:`ReleaseView` values (loaded by
``rds_control.removal``) and :class:`RetentionSettings`, and returns a
:class:`Plan`: every release with a :class:`Verdict` and a sentence saying why.

Never removed, whatever else is true (SPEC §4):

* the live release, and the one that was live before it (the revert target);
* any release at or above the rollback floor (post migrations ran there, so
  nothing older may go live again; the floor is an input, ``None`` while the
  project has none);
* a pinned release; a release with a task running (building, switching,
  being removed); a release that has not settled (new, building, ...);
* a release younger than ``min_age`` (measured from when it was created or
  last live, whichever is later).

Kept by count: the newest ``keep_releases`` *successful* releases (installed,
old, live), by version. Failed, cancelled and deleted releases never take a
keep slot: they go once they are older than ``discarded_age`` (measured from
when they were deleted, or from their creation).

Releases already removed from every server (``destroyed``) are not in the
plan at all. Plain module: no database, no nameko; ``tests/unit/
test_retention.py`` is the table of every rule.
"""
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rds_core.lifecycle import SETTLED, ReleaseStatus
from rds_core.versions import version_key
from rds_settings import get_settings
from rds_settings.settings import Settings

S = ReleaseStatus

#: Statuses of a release that was built and uploaded (what keep slots count).
SUCCESSFUL = frozenset({S.INSTALLED, S.USING, S.USED, S.OLD})
#: Statuses of a release that never became usable (never take a keep slot).
DISCARDED = frozenset({S.FAILED, S.CANCELLED})

DEFAULT_KEEP_RELEASES = 5
DEFAULT_MIN_AGE = timedelta(hours=Settings.model_fields["retention_min_age_hours"].default)
DEFAULT_DISCARDED_AGE = timedelta(
    hours=Settings.model_fields["retention_discarded_age_hours"].default)


@dataclass(frozen=True)
class RetentionSettings:
    """The global ages (per project: ``keep_releases``)."""

    min_age: timedelta = DEFAULT_MIN_AGE
    discarded_age: timedelta = DEFAULT_DISCARDED_AGE

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "RetentionSettings":
        """From ``RDS_RETENTION_MIN_AGE_HOURS`` / ``RDS_RETENTION_DISCARDED_AGE_HOURS``."""
        settings = settings or get_settings()
        return cls(min_age=timedelta(hours=settings.retention_min_age_hours),
                   discarded_age=timedelta(hours=settings.retention_discarded_age_hours))


def deletion_note(settings: RetentionSettings) -> str:
    """What "Delete" does, as the confirmation says it (the pruner runs every 5 minutes)."""
    return ("It leaves the board now; rds removes its files from every server about %s "
            "later, unless it is the version live before the current one, pinned, at or "
            "above the rollback floor, or a task is running on it."
            % _hours(settings.discarded_age))


@dataclass(frozen=True)
class ReleaseView:
    """What the plan needs to know about one release."""

    id: int
    version: str
    status: ReleaseStatus
    created_at: datetime
    deactivated_at: datetime | None = None
    deleted_at: datetime | None = None
    pinned: bool = False
    task_running: bool = False


class Verdict(enum.StrEnum):
    """Why a release stays or goes (the first rule that applies wins)."""

    LIVE = "live"
    PREVIOUS = "previous"
    PINNED = "pinned"
    TASK_RUNNING = "task_running"
    UNSETTLED = "unsettled"
    ROLLBACK_FLOOR = "rollback_floor"
    TOO_YOUNG = "too_young"
    KEPT_BY_COUNT = "kept_by_count"
    # the verdicts below remove the release
    BEYOND_COUNT = "beyond_count"
    DISCARDED = "discarded"
    DELETED = "deleted"


REMOVING = frozenset({Verdict.BEYOND_COUNT, Verdict.DISCARDED, Verdict.DELETED})


@dataclass(frozen=True)
class Decision:
    release: ReleaseView
    verdict: Verdict
    reason: str

    @property
    def remove(self) -> bool:
        return self.verdict in REMOVING

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.release.id, "version": self.release.version,
                "status": str(self.release.status), "verdict": str(self.verdict),
                "remove": self.remove, "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    """Every release of a project with its verdict, newest version first."""

    decisions: tuple[Decision, ...] = field(default_factory=tuple)
    keep_releases: int = DEFAULT_KEEP_RELEASES
    rollback_floor: str | None = None

    @property
    def to_remove(self) -> list[Decision]:
        """What goes next, oldest first."""
        return [d for d in reversed(self.decisions) if d.remove]

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if not d.remove]

    def to_wire(self) -> dict[str, Any]:
        return {"keep_releases": self.keep_releases, "rollback_floor": self.rollback_floor,
                "remove": [d.to_wire() for d in self.to_remove],
                "keep": [d.to_wire() for d in self.kept]}


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return "%g days" % round(hours / 24, 1)
    return "%g hours" % round(hours, 1)


def plan(releases: Iterable[ReleaseView], *, keep_releases: int, now: datetime,
         settings: RetentionSettings = RetentionSettings(),
         live_version: str | None = None, previous_version: str | None = None,
         rollback_floor: str | None = None) -> Plan:
    """Decide, for every release of one project, whether it stays on the servers.

    ``live_version`` is the live release's version (also recognised by status
    ``used``); ``previous_version`` the one live before it; ``rollback_floor``
    the oldest version that may still go live, or None.
    """
    ordered = sorted(releases, key=lambda r: version_key(r.version), reverse=True)
    floor_key = version_key(rollback_floor) if rollback_floor else None
    slots_left = max(keep_releases, 0)
    decisions = []
    for release in ordered:
        decision = _decide(release, slots_left, keep_releases, now, settings, live_version,
                           previous_version, floor_key, rollback_floor)
        if (release.deleted_at is None and release.status in SUCCESSFUL and slots_left > 0):
            slots_left -= 1  # a successful release takes a slot whatever else keeps it
        decisions.append(decision)
    return Plan(decisions=tuple(decisions), keep_releases=keep_releases,
                rollback_floor=rollback_floor)


def _decide(release: ReleaseView, slots_left: int, keep_releases: int, now: datetime,
            settings: RetentionSettings, live_version: str | None,
            previous_version: str | None, floor_key: tuple[int, ...] | None,
            rollback_floor: str | None) -> Decision:
    def keep(verdict: Verdict, reason: str) -> Decision:
        return Decision(release, verdict, reason)

    status = ReleaseStatus(release.status)
    if status == S.USED or release.version == live_version:
        return keep(Verdict.LIVE, "it is live")
    if release.version == previous_version:
        return keep(Verdict.PREVIOUS, "it was live before the live release (the revert "
                    "target)")
    if release.pinned:
        return keep(Verdict.PINNED, "it is pinned")
    if release.task_running:
        return keep(Verdict.TASK_RUNNING, "a task is running on it")
    if status not in SETTLED:
        return keep(Verdict.UNSETTLED, "it is %s" % status)
    if floor_key is not None and version_key(release.version) >= floor_key:
        return keep(Verdict.ROLLBACK_FLOOR, "it is at or above the rollback floor %s (post "
                    "migrations ran there)" % rollback_floor)
    if release.deleted_at is not None or status in DISCARDED:
        since = release.deleted_at or release.created_at
        age = now - since
        what = "deleted" if release.deleted_at is not None else str(status)
        if age < settings.discarded_age:
            return keep(Verdict.TOO_YOUNG, "%s %s ago; %s releases go after %s" % (
                what, _hours(age), what, _hours(settings.discarded_age)))
        return Decision(release, Verdict.DELETED if release.deleted_at else Verdict.DISCARDED,
                        "%s %s ago (limit %s); it never takes a keep slot" % (
                            what, _hours(age), _hours(settings.discarded_age)))
    if slots_left > 0:
        return keep(Verdict.KEPT_BY_COUNT, "it is one of the newest %d successful releases "
                    "(keep_releases)" % keep_releases)
    since = max(release.created_at, release.deactivated_at or release.created_at)
    age = now - since
    if age < settings.min_age:
        return keep(Verdict.TOO_YOUNG, "it was created or last live %s ago; nothing younger "
                    "than %s is removed" % (_hours(age), _hours(settings.min_age)))
    return Decision(release, Verdict.BEYOND_COUNT, "beyond the newest %d successful releases "
                    "(keep_releases); created or last live %s ago" % (keep_releases, _hours(age)))
