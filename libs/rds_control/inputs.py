"""Validated input of the control plane (API bodies and UI forms alike)."""
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from rds_bus.topology import check_pool
from rds_contracts.base import DeployPath, GitRef, Host, Port, ProjectName, Repository, ServerUser
from rds_contracts.builder import SharedPath
from rds_control.errors import InvalidInput
from rds_core.scripts import SCRIPTS
from rds_core.shared import MAX_SHARED_PATHS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def stripped(kind):
    """``kind`` with surrounding whitespace removed first (scripts keep theirs)."""
    return Annotated[kind, BeforeValidator(_strip)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerInput(Input):
    host: stripped(Host)
    port: Port = 22
    user: stripped(ServerUser)


class ProjectInput(Input):
    name: stripped(ProjectName)
    repository: stripped(Repository)
    default_ref: stripped(GitRef) = "main"
    deploy_path: stripped(DeployPath)
    agent_pool: stripped(str) = "default"
    keep_releases: int = Field(default=10, ge=2, le=1000)
    post_migration_delay_days: int = Field(default=7, ge=0, le=365)
    upload_concurrency: int = Field(default=8, ge=1, le=256)
    upload_max_failures: int = Field(default=0, ge=0)
    servers: list[ServerInput] = Field(default_factory=list, max_length=1000)
    scripts: dict[str, str] = Field(default_factory=dict)
    shared_files: list[stripped(SharedPath)] = Field(default_factory=list,
                                                     max_length=MAX_SHARED_PATHS)
    shared_dirs: list[stripped(SharedPath)] = Field(default_factory=list,
                                                    max_length=MAX_SHARED_PATHS)

    @field_validator("agent_pool")
    @classmethod
    def _pool(cls, value):
        return check_pool(value)

    @field_validator("scripts")
    @classmethod
    def _scripts(cls, value):
        unknown = sorted(set(value) - set(SCRIPTS))
        if unknown:
            raise ValueError("unknown script kind(s) %s; known: %s"
                             % (", ".join(unknown), ", ".join(sorted(SCRIPTS))))
        for kind, body in value.items():
            if len(body) > 256 * 1024:
                raise ValueError("script %s is longer than 256 KiB" % kind)
        return {kind: body.replace("\r\n", "\n") for kind, body in value.items()}

    @field_validator("servers")
    @classmethod
    def _unique_servers(cls, value):
        seen = set()
        for server in value:
            key = (server.host, server.port, server.user)
            if key in seen:
                raise ValueError("server %s@%s:%d is listed twice" % (server.user, server.host,
                                                                      server.port))
            seen.add(key)
        return value


class ReleaseInput(Input):
    comment: stripped(str) = Field(default="", max_length=2000)
    ref: stripped(GitRef) | None = None
    release_line: int | None = Field(default=None, ge=0)


def parse(schema, data, partial=False):
    """Validate ``data`` against ``schema``; raise InvalidInput naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput("expected a JSON object")
    try:
        if partial:
            return schema.model_validate(data), set(data)
        return schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        raise InvalidInput("%s: %s" % (field, message) if field else message,
                           field=field) from None
