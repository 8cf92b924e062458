"""The migrator service: a thin nameko adapter around ``rds_agent.migrations``.

It runs one pre/post migration up or down per ``migrate`` command, on the
project's migration host over SSH, and never touches rds's database.
"""
from rds_agent.migrations import run_migration
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings, AgentSettingsDependency
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import migrator


class MigratorService(runtime.AgentService):
    name = migrator.SERVICE_NAME
    agent_settings: AgentSettings = AgentSettingsDependency()

    @command_handler(migrator.MIGRATE)
    def handle_migrate(self, command: migrator.MigrateCommand, redelivered: bool) -> None:
        """Run one migration of a project up or down on its migration host."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_migration(command, reporter, settings, TaskFiles(settings.run_dir),
                          redelivered=redelivered)
