"""Cleaning an agent host's work directory (run by the gc agent on a timer).

What grows on an agent host, and when it may go:

* ``builds/<project>/<version>-<id>``: a build's workspace, and
  ``uploads/<id>``: its tars. ``<id>`` names the task (or the run) that made
  it. The task normally removes both when it ends; a killed agent leaves them
  behind. One is removed when no task running on this host claims it
  (``rds_agent.run_records.TaskFiles`` lists what runs here: the task ids, and a
  ``run_id`` when its record names one) *and* it has not
  changed for ``grace`` seconds (default 2 hours: a task that just started
  may not be registered when the list is read, and a workspace named after a
  run id rather than a task id is only recognised by its age);
* ``mirrors/<sha1>.git``: a git mirror, refreshed by every build of its
  repository. One unused for ``mirror_max_idle`` seconds (default 14 days)
  is removed, under the same file lock the builder takes, and skipped if a
  build holds that lock right now.

Never touches a database, never anything outside the work directory.
"""
import errno
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rds_settings.nameko import settings_of
from rds_settings.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_GRACE = float(Settings.model_fields["gc_workspace_grace"].default)
DEFAULT_MIRROR_MAX_IDLE = float(Settings.model_fields["gc_mirror_max_idle_days"].default) * 86400


@dataclass(frozen=True)
class CleanupSettings:
    grace: float = DEFAULT_WORKSPACE_GRACE
    mirror_max_idle: float = DEFAULT_MIRROR_MAX_IDLE

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CleanupSettings":
        """From ``RDS_GC_WORKSPACE_GRACE`` / ``RDS_GC_MIRROR_MAX_IDLE_DAYS``."""
        settings = settings_of(config)
        return cls(grace=settings.gc_workspace_grace,
                   mirror_max_idle=settings.gc_mirror_max_idle_days * 86400.0)


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def running_ids(running_dir: str) -> set[str]:
    """Ids of the tasks running on this host (their ``TaskFiles`` records), and the
    ``run_id`` a record names, if it names one (workspaces may be named by run)."""
    try:
        names = [n for n in os.listdir(running_dir) if not n.endswith(".tmp")]
    except FileNotFoundError:
        return set()
    ids = set(names)
    for name in names:
        try:
            with open(os.path.join(running_dir, name)) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue  # an older plain record (a process group id), or gone meanwhile
        if isinstance(record, dict) and isinstance(record.get("run_id"), str):
            ids.add(record["run_id"])
    return ids


def _claimed(entry_id: str, running: Iterable[str]) -> bool:
    """Whether a workspace id (a task id, its 8-character prefix, or a run id) is running."""
    return any(task_id == entry_id or (len(entry_id) >= 8 and task_id.startswith(entry_id))
               for task_id in running)


def _changed_at(path: str) -> float:
    try:
        stats = os.lstat(path)
    except FileNotFoundError:
        return float("inf")
    return max(stats.st_mtime, stats.st_ctime)


def _remove(path: str, report: CleanupReport) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        report.removed.append(path)
        log.info("removed %s", path)


def _workspaces(work_dir: str) -> Iterable[tuple[str, str]]:
    """``(path, id)`` of every build workspace and upload scratch directory."""
    builds = os.path.join(work_dir, "builds")
    for project in sorted(os.listdir(builds)) if os.path.isdir(builds) else ():
        project_dir = os.path.join(builds, project)
        if not os.path.isdir(project_dir):
            continue
        for name in sorted(os.listdir(project_dir)):
            yield os.path.join(project_dir, name), name.rsplit("-", 1)[-1]
    uploads = os.path.join(work_dir, "uploads")
    for name in sorted(os.listdir(uploads)) if os.path.isdir(uploads) else ():
        yield os.path.join(uploads, name), name


def clean_workspaces(work_dir: str, running_dir: str, now: float | None = None,
                     grace: float = DEFAULT_WORKSPACE_GRACE) -> CleanupReport:
    """Remove workspaces and upload tars of tasks that no longer run on this host."""
    now = time.time() if now is None else now
    report = CleanupReport()
    running = running_ids(running_dir)
    for path, entry_id in list(_workspaces(work_dir)):
        if _claimed(entry_id, running) or now - _changed_at(path) < grace:
            report.kept.append(path)
        else:
            _remove(path, report)
    builds = os.path.join(work_dir, "builds")
    for project in os.listdir(builds) if os.path.isdir(builds) else ():
        try:
            os.rmdir(os.path.join(builds, project))  # only when empty
        except OSError:
            pass
    return report


def _mirror_used_at(mirror: str) -> float:
    """Last time a build touched the mirror: its clone, or its last fetch (FETCH_HEAD).

    (Not the lock file: it is opened without writing, so its times say nothing.)
    """
    times = [os.stat(p).st_mtime for p in (mirror, os.path.join(mirror, "FETCH_HEAD"))
             if os.path.exists(p)]
    return max(times) if times else 0.0


def clean_mirrors(work_dir: str, now: float | None = None,
                  max_idle: float = DEFAULT_MIRROR_MAX_IDLE) -> CleanupReport:
    """Remove git mirrors no build used for ``max_idle`` seconds."""
    now = time.time() if now is None else now
    report = CleanupReport()
    root = os.path.join(work_dir, "mirrors")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        mirror = os.path.join(root, name)
        if not name.endswith(".git") or not os.path.isdir(mirror):
            continue
        if now - _mirror_used_at(mirror) < max_idle:
            report.kept.append(mirror)
            continue
        with open(mirror + ".lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                report.kept.append(mirror)  # a build is using it right now
                continue
            try:
                if now - _mirror_used_at(mirror) >= max_idle:
                    _remove(mirror, report)
                else:
                    report.kept.append(mirror)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return report


def clean_work_dir(work_dir: str, running_dir: str, settings: CleanupSettings,
                   now: float | None = None) -> CleanupReport:
    """Workspaces, upload tars and idle mirrors: one pass."""
    workspaces = clean_workspaces(work_dir, running_dir, now, settings.grace)
    mirrors = clean_mirrors(work_dir, now, settings.mirror_max_idle)
    return CleanupReport(removed=workspaces.removed + mirrors.removed,
                         kept=workspaces.kept + mirrors.kept)
