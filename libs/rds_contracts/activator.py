"""The activator boundary: switch ``current`` to a release on every server.

Command ``activate`` → ``task_started``, ``task_log``/``task_step``, then
``activation_finished`` (with what ``current`` reads on each server) or
``activation_failed`` (the servers already switched were switched back; each
server's read-back ``current`` is reported so drift is visible).

``previous_version`` is what was live when the command was queued: a failed
activation switches every server back to it, also in a rerun of a
redelivered command whose first run had already switched the servers.
"""
from pydantic import Field

from rds_contracts.base import (
    Command,
    CronConfig,
    DeployPath,
    ProjectName,
    Script,
    ServerResult,
    ServerSpec,
    TaskEvent,
    Version,
)

SERVICE_NAME = "activator"

ACTIVATE = "activate"

ACTIVATION_FINISHED = "activation_finished"
ACTIVATION_FAILED = "activation_failed"


class ActivateCommand(Command):
    project: ProjectName
    version: Version
    previous_version: Version | None = None
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    use_script: Script | None = None
    post_use_script: Script | None = None
    #: servers switched at once; the default switches every server in one wave
    concurrency: int = Field(default=256, ge=1, le=256)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    #: The release line (``$release`` of the use/post-use scripts).
    release_line: int | None = Field(default=None, ge=0)
    #: The release's cron config (printed by its cron script at build time):
    #: installed on every server after the switch, and ``$cron`` of the scripts.
    cron: CronConfig | None = None
    #: The cron of the release live before (put back when switching back).
    previous_cron: CronConfig | None = None


class ActivationFinished(TaskEvent):
    servers: list[ServerResult] = Field(max_length=1000)


class ActivationFailed(TaskEvent):
    reason: str = Field(max_length=8192)
    rolled_back: bool
    servers: list[ServerResult] = Field(default_factory=list, max_length=1000)
