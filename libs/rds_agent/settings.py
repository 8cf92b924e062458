"""Agent configuration keys (``config.yml`` of each agent service).

* ``AGENT_WORK_DIR``: mirrors, workspaces and upload scratch space
  (default ``/var/lib/rds-agent``).
* ``AGENT_RUN_DIR``: running-task files shared with the killer on this host
  (default ``<AGENT_WORK_DIR>/run``).
* ``SSH_KEY_PATH``: private key used to log in to the app servers.
* ``SSH_KNOWN_HOSTS``: host keys rds trusts (default
  ``<AGENT_WORK_DIR>/known_hosts``).
* ``SSH_HOST_KEY_POLICY``: ``accept-new`` (remember unknown hosts, refuse
  changed keys) or ``strict`` (refuse unknown hosts).
* ``SCRIPT_TIMEOUT``: seconds a project script may run (default 3600).
"""
import os
from dataclasses import dataclass

WORK_DIR_KEY = "AGENT_WORK_DIR"
RUN_DIR_KEY = "AGENT_RUN_DIR"
SSH_KEY_PATH_KEY = "SSH_KEY_PATH"
SSH_KNOWN_HOSTS_KEY = "SSH_KNOWN_HOSTS"
SSH_HOST_KEY_POLICY_KEY = "SSH_HOST_KEY_POLICY"
SCRIPT_TIMEOUT_KEY = "SCRIPT_TIMEOUT"

DEFAULT_WORK_DIR = "/var/lib/rds-agent"


@dataclass(frozen=True)
class AgentSettings:
    work_dir: str
    run_dir: str
    ssh_key_path: str
    known_hosts: str
    host_key_policy: str
    script_timeout: float

    @classmethod
    def from_config(cls, config):
        work_dir = os.path.abspath(config.get(WORK_DIR_KEY) or DEFAULT_WORK_DIR)
        policy = config.get(SSH_HOST_KEY_POLICY_KEY) or "accept-new"
        if policy not in ("accept-new", "strict"):
            raise ValueError("%s must be accept-new or strict" % SSH_HOST_KEY_POLICY_KEY)
        key = config.get(SSH_KEY_PATH_KEY) or os.path.expanduser("~/.ssh/id_ed25519")
        return cls(work_dir=work_dir,
                   run_dir=os.path.abspath(config.get(RUN_DIR_KEY)
                                           or os.path.join(work_dir, "run")),
                   ssh_key_path=os.path.abspath(key),
                   known_hosts=os.path.abspath(config.get(SSH_KNOWN_HOSTS_KEY)
                                               or os.path.join(work_dir, "known_hosts")),
                   host_key_policy=policy,
                   script_timeout=float(config.get(SCRIPT_TIMEOUT_KEY) or 3600))

    def ssh(self):
        from rds_ssh.connection import SshSettings

        return SshSettings(key_path=self.ssh_key_path, known_hosts_path=self.known_hosts,
                           host_key_policy=self.host_key_policy)

    def path(self, *parts):
        return os.path.join(self.work_dir, *parts)
