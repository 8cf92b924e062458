"""The config push boundary: put a project's config files on every server.

Command ``push_config`` (taken by the activator, which also switches
releases) → ``task_started``, ``task_log`` lines (never file contents), then
``config_pushed`` (every server has the revision) or ``config_push_failed``
(with each server's result, so the UI shows which server failed and why).

``inspect_config`` → ``config_inspected``: per server, the revision recorded
in ``shared/config`` and the SHA-256 of each named file (None: missing), so
the UI can say which version each server holds without moving secrets.

The push command carries every live config file of one project *revision*: the
agent writes each file atomically (temp file + rename, mode 0640) into
``<deploy_path>/shared/config/``, removes files of earlier revisions that no
longer exist, and records the revision there. A server that already holds a
newer revision is left alone, so a stale or redelivered push never undoes a
newer one.
"""
from typing import Annotated, Self

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

#: Read back what the servers hold: a SHA-256 per config file, never contents.
INSPECT_CONFIG = "inspect_config"
CONFIG_INSPECTED = "config_inspected"

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
    def _bounded(self) -> Self:
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


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class InspectConfigCommand(Command):
    project: ProjectName
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    names: list[ConfigName] = Field(default_factory=list, max_length=shared.MAX_CONFIG_FILES)
    concurrency: int = Field(default=16, ge=1, le=256)


class ServerConfigState(Message):
    server_id: int
    ok: bool
    error: str | None = Field(default=None, max_length=4000)
    revision: int | None = Field(default=None, ge=0)
    #: SHA-256 of each named file on the server (None: the file is missing).
    files: dict[ConfigName, Sha256 | None] = Field(default_factory=dict,
                                                    max_length=shared.MAX_CONFIG_FILES)


class ConfigInspected(TaskEvent):
    servers: list[ServerConfigState] = Field(default_factory=list, max_length=1000)
    #: Set when the inspection could not run at all.
    error: str | None = Field(default=None, max_length=8192)
