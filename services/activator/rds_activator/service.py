"""The activator service: a thin nameko adapter around ``rds_agent.activation``."""
from rds_agent.activation import run_activation
from rds_agent.configs import run_config_inspect, run_config_push
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings, AgentSettingsDependency
from rds_bus import runtime
from rds_bus.entrypoints import command_handler
from rds_contracts import activator, configs


class ActivatorService(runtime.AgentService):
    name = activator.SERVICE_NAME
    agent_settings: AgentSettings = AgentSettingsDependency()

    @command_handler(activator.ACTIVATE)
    def handle_activate(self, command: activator.ActivateCommand, redelivered: bool) -> None:
        """Switch ``current`` to a release on every server, or switch back."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_activation(command, reporter, settings, TaskFiles(settings.run_dir),
                           redelivered=redelivered)

    @command_handler(configs.PUSH_CONFIG)
    def handle_push_config(self, command: configs.PushConfigCommand,
                           redelivered: bool) -> None:
        """Put one config revision of a project on every server."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_config_push(command, reporter, settings, TaskFiles(settings.run_dir),
                            redelivered=redelivered)

    @command_handler(configs.INSPECT_CONFIG)
    def handle_inspect_config(self, command: configs.InspectConfigCommand,
                              redelivered: bool) -> None:
        """Read back which config revision and files every server holds."""
        settings = self.agent_settings
        reporter = TaskReporter(self.runtime.publish, command.task_id, self.runtime.name,
                                claim=self.runtime.claim)
        with self.runtime.running_task(command.task_id):
            run_config_inspect(command, reporter, settings, TaskFiles(settings.run_dir),
                               redelivered=redelivered)
