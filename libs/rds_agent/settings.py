"""What an agent needs from the settings, resolved once at start.

``AgentSettings.from_settings`` turns the ``RDS_AGENT_*``/``RDS_SSH_*``/
``RDS_SCRIPT_TIMEOUT`` fields of :class:`rds_settings.Settings` (defaults and
meanings live there, and in README "Configuration") into absolute paths and
the SSH settings; ``AgentSettingsDependency`` does that once in the nameko
container's ``setup`` and hands the same object to every handler.
"""
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider

from rds_settings import Settings
from rds_settings.nameko import settings_of

if TYPE_CHECKING:
    from rds_ssh.connection import SshSettings


@dataclass(frozen=True)
class AgentSettings:
    work_dir: str
    run_dir: str
    ssh_key_path: str
    known_hosts: str
    host_key_policy: str
    script_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "AgentSettings":
        work_dir = settings.resolved_work_dir()

        def under_work_dir(value: str, default: str) -> str:
            return os.path.abspath(os.path.expanduser(value or os.path.join(work_dir, default)))

        return cls(work_dir=work_dir,
                   run_dir=under_work_dir(settings.agent_run_dir, "run"),
                   ssh_key_path=os.path.abspath(os.path.expanduser(settings.ssh_key_path)),
                   known_hosts=under_work_dir(settings.ssh_known_hosts, "known_hosts"),
                   host_key_policy=settings.ssh_host_key_policy,
                   script_timeout=settings.script_timeout)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "AgentSettings":
        """From a nameko container's config (see ``rds_settings.nameko``)."""
        return cls.from_settings(settings_of(config))

    def ssh(self) -> "SshSettings":
        from rds_ssh.connection import SshSettings

        return SshSettings(key_path=self.ssh_key_path, known_hosts_path=self.known_hosts,
                           host_key_policy=self.host_key_policy)

    def path(self, *parts: str) -> str:
        return os.path.join(self.work_dir, *parts)


class AgentSettingsDependency(DependencyProvider):
    """The agent's settings, resolved once when the service starts."""

    def setup(self) -> None:
        self.settings = AgentSettings.from_config(self.container.config)

    def get_dependency(self, worker_ctx: object) -> AgentSettings:
        return self.settings
