"""The config push boundary: put a project's config files on every server.

Command ``push_config`` (taken by the activator, which also switches
releases) → ``task_started``, ``task_log`` lines (never file contents), then
``config_pushed`` (every server has the revision) or ``config_push_failed``
(with each server's result, so the UI shows which server failed and why).

The command carries every live config file of one project *revision*: the
agent writes each file atomically (temp file + rename, mode 0640) into
``<deploy_path>/shared/config/``, removes files of earlier revisions that no
longer exist, and records the revision there. A server that already holds a
newer revision is left alone, so a stale or redelivered push never undoes a
newer one.
"""
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from rds_contracts.base import (
    Command,
    DeployPath,
    Message,
    ProjectName,
    Script,
    ServerResult,
    ServerSpec,
    TaskEvent,
)
from rds_core import shared

SERVICE_NAME = "activator"

PUSH_CONFIG = "push_config"

CONFIG_PUSHED = "config_pushed"
CONFIG_PUSH_FAILED = "config_push_failed"

ConfigName = Annotated[str, AfterValidator(shared.check_config_name)]
ConfigContent = Annotated[str, AfterValidator(shared.check_config_content)]
#: Largest push: every file of a project together.
MAX_PUSH_BYTES = 16 * 1024 * 1024


class ConfigFile(Message):
    name: ConfigName
    content: ConfigContent


class PushConfigCommand(Command):
    project: ProjectName
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    revision: int = Field(ge=1)
    files: list[ConfigFile] = Field(default_factory=list, max_length=shared.MAX_CONFIG_FILES)
    upload_script: Script | None = None
    concurrency: int = Field(default=16, ge=1, le=256)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _bounded(self):
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("files: a config file name is listed twice")
        if sum(len(f.content.encode()) for f in self.files) > MAX_PUSH_BYTES:
            raise ValueError("files: more than %d bytes in all" % MAX_PUSH_BYTES)
        return self


class ConfigPushed(TaskEvent):
    servers: list[ServerResult]


class ConfigPushFailed(TaskEvent):
    reason: str = Field(max_length=8192)
    servers: list[ServerResult] = Field(default_factory=list)
