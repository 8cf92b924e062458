"""The activator service: a thin nameko adapter around ``rds_agent.activation``."""
from rds_agent.activation import run_activation
from rds_agent.reporting import TaskReporter
from rds_agent.settings import AgentSettingsDependency
from rds_agent.tasks import TaskFiles
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import activator


class ActivatorService(runtime.AgentService):
    name = activator.SERVICE_NAME
    agent_settings = AgentSettingsDependency()

    @command_handler(activator.ACTIVATE)
    def handle_activate(self, command, redelivered):
        """Switch ``current`` to a release on every server, or switch back."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_activation(command, reporter, settings, TaskFiles(settings.run_dir),
                           redelivered=redelivered)
