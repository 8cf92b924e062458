"""Running tasks on this host, as files the killer can see.

The builder (or any service running scripts) and the killer are separate
processes on the same host sharing ``RUN_DIR``:

* ``RUN_DIR/running/<task_id>`` holds the process group id of the script the
  task is running right now (empty between scripts);
* ``RUN_DIR/cancelled/<task_id>`` is the killer's tombstone.

Ordering closes the race between a cancel and a start: the task writes its
file *before* checking the tombstone; the killer writes the tombstone
*before* reading the file. Either the task sees the tombstone or the killer
sees the process group. Files are removed when the task ends; tombstones
older than a day are swept.
"""
import os
import time

TOMBSTONE_TTL = 24 * 3600


class TaskCancelled(Exception):
    """The task was cancelled on request."""


class TaskFiles:
    def __init__(self, run_dir):
        self.running_dir = os.path.join(run_dir, "running")
        self.cancelled_dir = os.path.join(run_dir, "cancelled")
        os.makedirs(self.running_dir, exist_ok=True)
        os.makedirs(self.cancelled_dir, exist_ok=True)

    def _running(self, task_id):
        return os.path.join(self.running_dir, task_id)

    def _tombstone(self, task_id):
        return os.path.join(self.cancelled_dir, task_id)

    # task side
    def register(self, task_id, pgid=None):
        path = self._running(task_id)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write("" if pgid is None else str(pgid))
        os.replace(tmp, path)

    def unregister(self, task_id):
        try:
            os.unlink(self._running(task_id))
        except FileNotFoundError:
            pass

    def is_cancelled(self, task_id):
        return os.path.exists(self._tombstone(task_id))

    def check(self, task_id):
        if self.is_cancelled(task_id):
            raise TaskCancelled()

    # killer side
    def mark_cancelled(self, task_id):
        with open(self._tombstone(task_id), "w") as handle:
            handle.write(str(time.time()))

    def running_pgid(self, task_id):
        """The process group to kill: None if the task is not running here."""
        try:
            with open(self._running(task_id)) as handle:
                content = handle.read().strip()
        except FileNotFoundError:
            return None
        return int(content) if content else 0

    def is_running(self, task_id):
        return os.path.exists(self._running(task_id))

    def sweep(self, now=None):
        now = now or time.time()
        for name in os.listdir(self.cancelled_dir):
            path = os.path.join(self.cancelled_dir, name)
            try:
                if now - os.path.getmtime(path) > TOMBSTONE_TTL:
                    os.unlink(path)
            except FileNotFoundError:
                pass
