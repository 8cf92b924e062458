"""The killer service: acts on broadcast cancels for tasks on its host.

Every host of a pool gets every ``cancel`` of the pool in its own durable
queue (named by pool and host, so cancels sent while the killer restarts
wait for it). It leaves a tombstone (so a task that has not started on this
host never starts) and, if the task runs a script here right now, kills that
script's process group (SIGTERM, then SIGKILL after a grace period). The
task's own service then reports its ``*_cancelled`` event. (A task still
queued anywhere never starts either: it was cancelled in the database, and
its claim is refused.)

It is also the host's orphan reaper: every 2 s it kills the process groups
of runs whose agent process is gone (``TaskFiles.reap_orphans``).
"""
import logging

from nameko.timer import timer

from rds_agent.run_records import TaskFiles
from rds_agent.script_runner import kill_group
from rds_agent.settings import AgentSettings, AgentSettingsDependency
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import killer

log = logging.getLogger(__name__)


class KillerService(runtime.AgentService):
    name = killer.SERVICE_NAME
    agent_settings: AgentSettings = AgentSettingsDependency()

    def _files(self) -> TaskFiles:
        return TaskFiles(self.agent_settings.run_dir)

    @command_handler(killer.CANCEL, broadcast=True)
    def handle_cancel(self, command: killer.CancelCommand, redelivered: bool) -> None:
        """Cancel a task if it runs (or would start) on this host."""
        files = self._files()
        files.mark_cancelled(command.task_id)
        pgid = files.running_pgid(command.task_id)
        if pgid is None:
            return
        log.info("cancelling task %s (process group %s)", command.task_id, pgid or "-")
        if pgid:
            kill_group(pgid)

    @timer(interval=2)
    def reap_orphans(self) -> None:
        """Kill what dead agents of this host left running."""
        for task_id in self._files().reap_orphans():
            log.warning("killed the orphaned scripts of task %s", task_id)

    @timer(interval=3600)
    def sweep_tombstones(self) -> None:
        """Forget cancels older than a day."""
        self._files().sweep()
