"""Run records: the tasks running on this host, as files the killer can see.

The builder (or any service running scripts) and the killer are separate
processes on the same host sharing ``RUN_DIR``:

* ``RUN_DIR/running/<task_id>`` records the run: the process id of the agent
  copy running it (``owner``), its pid namespace (``pidns``) and boot
  (``boot``), and the process group of the script it is running right now
  (``pgid``, null between scripts), as JSON;
* ``RUN_DIR/cancelled/<task_id>`` is the killer's tombstone.

No orphans: scripts get ``PR_SET_PDEATHSIG`` (``rds_agent.script_runner``), and
whatever they started in their process group is found here. The killer's
timer and the next run of the same task call :meth:`TaskFiles.reap_orphans`:
a record whose owner process is gone has its process group killed and is
removed.

Ordering closes the race between a cancel and a start: the task writes its
file *before* checking the tombstone; the killer writes the tombstone
*before* reading the file. Either the task sees the tombstone or the killer
sees the process group. Files are removed when the task ends; tombstones
older than a day are swept.
"""
import json
import logging
import os
import signal
import time
from typing import Any

from rds_bus.identity import pid_is_gone

log = logging.getLogger(__name__)

TOMBSTONE_TTL = 24 * 3600


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:  # pragma: no cover - not Linux
        return ""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:  # pragma: no cover - not Linux
        return ""


#: Runs recorded from another pid namespace (a container sharing the run dir)
#: are never judged here: their pids mean other processes in ours.
PID_NAMESPACE = _pid_namespace()
#: Runs recorded before the last reboot are gone; their pids may be reused.
BOOT_ID = _boot_id()


class TaskCancelled(Exception):
    """The task was cancelled on request."""


class TaskFiles:
    def __init__(self, run_dir: str) -> None:
        self.running_dir = os.path.join(run_dir, "running")
        self.cancelled_dir = os.path.join(run_dir, "cancelled")
        os.makedirs(self.running_dir, exist_ok=True)
        os.makedirs(self.cancelled_dir, exist_ok=True)

    def _running(self, task_id: str) -> str:
        return os.path.join(self.running_dir, task_id)

    def _tombstone(self, task_id: str) -> str:
        return os.path.join(self.cancelled_dir, task_id)

    # task side
    def register(self, task_id: str, pgid: int | None = None) -> None:
        """Record that this process runs the task (and its script's process group)."""
        path = self._running(task_id)
        if pgid is None:
            self._reap_if_orphaned(task_id)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w") as handle:
            json.dump({"owner": os.getpid(), "pgid": pgid, "pidns": PID_NAMESPACE,
                       "boot": BOOT_ID}, handle)
        os.replace(tmp, path)

    def unregister(self, task_id: str) -> None:
        try:
            os.unlink(self._running(task_id))
        except FileNotFoundError:
            pass

    def is_cancelled(self, task_id: str) -> bool:
        return os.path.exists(self._tombstone(task_id))

    def check(self, task_id: str) -> None:
        if self.is_cancelled(task_id):
            raise TaskCancelled()

    # killer side
    def mark_cancelled(self, task_id: str) -> None:
        with open(self._tombstone(task_id), "w") as handle:
            handle.write(str(time.time()))

    def _record(self, task_id: str) -> dict[str, Any] | None:
        try:
            with open(self._running(task_id)) as handle:
                record = json.load(handle)
        except (FileNotFoundError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def running_pgid(self, task_id: str) -> int | None:
        """The process group to kill: None if the task is not running here, 0 between scripts."""
        record = self._record(task_id)
        if record is None:
            return None
        return int(record.get("pgid") or 0)

    def _reap_if_orphaned(self, task_id: str) -> bool:
        record = self._record(task_id)
        if (record is None or record.get("pidns", PID_NAMESPACE) != PID_NAMESPACE
                or not pid_is_gone(int(record.get("owner") or 0))):
            return False
        pgid = int(record.get("pgid") or 0)
        if pgid and record.get("boot", BOOT_ID) == BOOT_ID:
            try:
                os.killpg(pgid, signal.SIGKILL)
                log.warning("killed process group %d of task %s: its agent (pid %s) is gone",
                            pgid, task_id, record.get("owner"))
            except ProcessLookupError:
                pass
        self.unregister(task_id)
        return True

    def reap_orphans(self) -> list[str]:
        """Kill the scripts of runs whose agent process is gone; returns their task ids."""
        reaped = []
        for name in os.listdir(self.running_dir):
            if not name.endswith(".tmp") and self._reap_if_orphaned(name):
                reaped.append(name)
        return reaped

    def is_running(self, task_id: str) -> bool:
        return os.path.exists(self._running(task_id))

    def sweep(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for name in os.listdir(self.cancelled_dir):
            path = os.path.join(self.cancelled_dir, name)
            try:
                if now - os.path.getmtime(path) > TOMBSTONE_TTL:
                    os.unlink(path)
            except FileNotFoundError:
                pass
