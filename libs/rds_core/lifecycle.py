"""The release request and task state machines.

Release request statuses (SPEC §3)::

    new → building → built → installing → installed → using → used → old
    any of new..installing → failed
    new..installing → cancelling → cancelled

``installed`` and ``old`` releases can be activated (that is also rollback).
A failed activation leaves the release where it was (the activator switches
the servers back itself), so ``using`` returns to the status it came from.

This module only answers questions ("may X happen now?"); the database layer
applies the answers under row locks.
"""
import enum


class ReleaseStatus(enum.StrEnum):
    NEW = "new"
    BUILDING = "building"
    BUILT = "built"
    INSTALLING = "installing"
    INSTALLED = "installed"
    USING = "using"
    USED = "used"
    OLD = "old"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


S = ReleaseStatus

#: Allowed release transitions: from → set of to.
RELEASE_TRANSITIONS = {
    S.NEW: {S.BUILDING, S.BUILT, S.INSTALLING, S.INSTALLED, S.FAILED, S.CANCELLING,
            S.CANCELLED},
    S.BUILDING: {S.BUILT, S.INSTALLING, S.INSTALLED, S.FAILED, S.CANCELLING, S.CANCELLED},
    S.BUILT: {S.INSTALLING, S.INSTALLED, S.FAILED, S.CANCELLING, S.CANCELLED},
    S.INSTALLING: {S.INSTALLED, S.FAILED, S.CANCELLING, S.CANCELLED},
    S.INSTALLED: {S.USING, S.NEW},
    S.USING: {S.USED, S.INSTALLED, S.OLD},
    S.USED: {S.OLD},
    S.OLD: {S.USING},
    S.FAILED: {S.NEW},
    # a build that finished before the kill arrived wins over the cancel
    S.CANCELLING: {S.CANCELLED, S.FAILED, S.INSTALLED},
    S.CANCELLED: {S.NEW},
}

#: Statuses in which an agent is (or will soon be) working on the release.
IN_PROGRESS = frozenset({S.NEW, S.BUILDING, S.BUILT, S.INSTALLING})
#: Statuses from which the release can be switched live.
ACTIVATABLE = frozenset({S.INSTALLED, S.OLD})
#: Statuses that never change again by themselves.
SETTLED = frozenset({S.INSTALLED, S.USED, S.OLD, S.FAILED, S.CANCELLED})
#: Statuses a rebuild may start from (the latest release only).
REBUILDABLE = frozenset({S.INSTALLED, S.FAILED, S.CANCELLED})

#: Progress order of the build pipeline, used to refuse going backwards.
PIPELINE_ORDER = {S.NEW: 0, S.BUILDING: 1, S.BUILT: 2, S.INSTALLING: 3, S.INSTALLED: 4}


def can_transition(current: str, target: str) -> bool:
    return S(target) in RELEASE_TRANSITIONS.get(S(current), set())


def is_forward(current: str, target: str) -> bool:
    """True when ``target`` is further along the build pipeline than ``current``."""
    current, target = S(current), S(target)
    if current not in PIPELINE_ORDER or target not in PIPELINE_ORDER:
        return can_transition(current, target)
    return PIPELINE_ORDER[target] > PIPELINE_ORDER[current]


class TaskKind(enum.StrEnum):
    BUILD = "build"          # build + upload to every server (builder)
    ACTIVATE = "activate"    # switch current on every server (activator)
    MIGRATE = "migrate"      # run one migration up or down (migrator)
    REMOVE = "remove"        # remove a release from the servers (gc)
    INSPECT = "inspect"      # read current and releases/ of every server: drift (gc)


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TASK_ACTIVE = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.CANCELLING})
TASK_FINISHED = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})

class Lane(enum.StrEnum):
    """Deploy lanes: at most one active task per project and lane (enforced by a
    partial unique index). Building the next version never blocks a rollback."""

    BUILD = "build"
    ACTIVATE = "activate"


LANE_BY_KIND: dict[TaskKind, Lane | None] = {
    TaskKind.BUILD: Lane.BUILD, TaskKind.ACTIVATE: Lane.ACTIVATE,
    TaskKind.MIGRATE: Lane.ACTIVATE, TaskKind.REMOVE: None, TaskKind.INSPECT: None}


class TargetState(enum.StrEnum):
    """The state of one release on one server (``release_targets.state``)."""

    READY = "ready"      # uploaded and verified against the manifest
    FAILED = "failed"    # the upload to this server failed
    REMOVED = "removed"  # gc confirmed the release directory is gone from this server

MAX_AUTOMATIC_ATTEMPTS = 3
