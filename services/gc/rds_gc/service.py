"""The gc service: removes releases from the servers and inspects them; cleans its host.

A thin nameko adapter: ``remove_release`` and ``inspect_servers`` commands
run ``rds_agent.removal``; a timer cleans this host's work directory
(``rds_agent.cleanup``: workspaces and tars of tasks that no longer run here,
git mirrors unused for ``GC_MIRROR_MAX_IDLE_DAYS``). Run one gc copy on every
host that runs a builder, with the builder's ``AGENT_WORK_DIR`` and
``AGENT_RUN_DIR``.
"""
import logging

from nameko.timer import timer

from rds_agent.cleanup import CleanupSettings, clean_work_dir
from rds_agent.removal import run_inspection, run_removal
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import gc

log = logging.getLogger(__name__)


class GcService(runtime.AgentService):
    name = gc.SERVICE_NAME

    def _settings(self) -> AgentSettings:
        return AgentSettings.from_config(self.runtime.config)

    @command_handler(gc.REMOVE_RELEASE)
    def handle_remove_release(self, command: gc.RemoveReleaseCommand,
                              redelivered: bool) -> None:
        """Remove one release from every server of its project (never the live one)."""
        settings = self._settings()
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name)
        with self.runtime.running_task(command.task_id):
            run_removal(command, reporter, settings, TaskFiles(settings.run_dir),
                        redelivered=redelivered)

    @command_handler(gc.INSPECT_SERVERS)
    def handle_inspect_servers(self, command: gc.InspectServersCommand,
                               redelivered: bool) -> None:
        """Read current and the release directories of every server of a project."""
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name)
        with self.runtime.running_task(command.task_id):
            run_inspection(command, reporter, self._settings())

    @timer(interval=600)
    def clean_host(self) -> int:
        """Remove stale workspaces, upload tars and idle git mirrors of this host."""
        settings = self._settings()
        report = clean_work_dir(settings.work_dir, TaskFiles(settings.run_dir).running_dir,
                                CleanupSettings.from_config(self.runtime.config))
        if report.removed:
            log.info("cleaned %d stale path(s) from %s", len(report.removed), settings.work_dir)
        return len(report.removed)
