"""The builder service: a thin nameko adapter around ``rds_agent.build``."""
from rds_agent.build import run_build
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings, AgentSettingsDependency
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import builder


class BuilderService(runtime.AgentService):
    name = builder.SERVICE_NAME
    agent_settings: AgentSettings = AgentSettingsDependency()

    @command_handler(builder.BUILD)
    def handle_build(self, command: builder.BuildCommand, redelivered: bool) -> None:
        """Build one version and upload it to every server of the project."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_build(command, reporter, settings, TaskFiles(settings.run_dir),
                      redelivered=redelivered)
