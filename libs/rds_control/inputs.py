"""Validated input of the control plane (API bodies and UI forms alike).

Every field is bounded here, once, for the API and the UI alike: lengths,
numeric ranges, no NUL or control characters in one-line fields, no NUL in
scripts, and ``shared_files``/``shared_dirs`` only as plain relative paths
inside the deploy path (they end up in shell commands on the servers). The
same constraints appear in the JSON schema the OpenAPI document publishes.
"""
import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonDict

from rds_bus.topology import POOL_RE, check_pool
from rds_contracts.base import DeployPath, GitRef, Host, Port, ProjectName, Repository, ServerUser
from rds_control.errors import InvalidInput
from rds_core import names
from rds_core.scripts import SCRIPTS


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


#: C0 control characters and DEL; one-line fields carry none of them.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: A shared file or directory: a relative path of plain segments (no ``..``,
#: no shell metacharacters), kept inside ``<deploy_path>/shared``.
_SEGMENT = r"[A-Za-z0-9._@+][A-Za-z0-9._@+-]{0,127}"
SHARED_PATH_RE = re.compile(r"^%s(/%s)*$" % (_SEGMENT, _SEGMENT))
MAX_SCRIPT = 256 * 1024
#: All scripts of one project together: bounds what ``GET /projects`` returns.
MAX_SCRIPTS_TOTAL = 1024 * 1024
MAX_SHARED_PATHS = 100
MAX_SERVERS = 1000


def _one_line(value: str) -> str:
    if CONTROL_RE.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _shared_path(value: str) -> str:
    if not SHARED_PATH_RE.fullmatch(value) or any(part in (".", "..")
                                                   for part in value.split("/")):
        raise ValueError("must be a relative path of letters, digits and . _ @ + - "
                         "inside the deploy path (no '..', no shell characters)")
    return value


#: Before a one-line field's own check: surrounding whitespace goes (scripts keep theirs).
STRIP = BeforeValidator(_strip)
#: After it: no control characters. A one-line field is
#: ``Annotated[kind, STRIP, ONE_LINE, limits(...)]``.
ONE_LINE = AfterValidator(_one_line)


def limits(max_length: int = 255, min_length: int = 1,
           pattern: re.Pattern[str] | None = None) -> Any:
    """The length bounds of a one-line field (``Field`` metadata for ``Annotated``).

    ``pattern`` only documents (in the JSON schema) what the kind's own check enforces.
    """
    extra: JsonDict | None = {"pattern": pattern.pattern} if pattern is not None else None
    return Field(min_length=min_length, max_length=max_length, json_schema_extra=extra)


def _script(value: str) -> str:
    if len(value) > MAX_SCRIPT:
        raise ValueError("script is longer than 256 KiB")
    return _no_nul(value)


ScriptBody = Annotated[str, AfterValidator(_script), Field(json_schema_extra={
    "maxLength": MAX_SCRIPT})]
SharedPath = Annotated[str, AfterValidator(_shared_path), Field(
    min_length=1, max_length=255, json_schema_extra={"pattern": SHARED_PATH_RE.pattern})]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerInput(Input):
    host: Annotated[Host, STRIP, ONE_LINE, limits(253)]
    port: Annotated[Port, Field(ge=1, le=65535)] = 22
    user: Annotated[ServerUser, STRIP, ONE_LINE, limits(32, pattern=names.SERVER_USER_RE)]


class ProjectInput(Input):
    name: Annotated[ProjectName, STRIP, ONE_LINE, limits(63, pattern=names.PROJECT_NAME_RE)]
    repository: Annotated[Repository, STRIP, ONE_LINE, limits(2048)]
    default_ref: Annotated[GitRef, STRIP, ONE_LINE, limits()] = "main"
    deploy_path: Annotated[DeployPath, STRIP, ONE_LINE, limits(1024)]
    agent_pool: Annotated[str, STRIP, ONE_LINE, limits(63, pattern=POOL_RE)] = "default"
    keep_releases: int = Field(default=5, ge=2, le=1000)
    post_migration_delay_days: int = Field(default=7, ge=0, le=365)
    upload_concurrency: int = Field(default=8, ge=1, le=256)
    upload_max_failures: int = Field(default=0, ge=0, le=MAX_SERVERS)
    servers: list[ServerInput] = Field(default_factory=list, max_length=MAX_SERVERS)
    scripts: dict[str, ScriptBody] = Field(default_factory=dict, max_length=16)
    shared_files: list[SharedPath] = Field(default_factory=list, max_length=MAX_SHARED_PATHS)
    shared_dirs: list[SharedPath] = Field(default_factory=list, max_length=MAX_SHARED_PATHS)
    #: ``user@host:port`` of the server migrations run on (empty: the first server).
    migration_server: Annotated[str, STRIP, ONE_LINE, limits()] | None = Field(
        default=None, max_length=300)

    @field_validator("migration_server")
    @classmethod
    def _migration_server(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        labels = ["%s@%s:%d" % (s.user, s.host, s.port) for s in info.data.get("servers", [])]
        if value not in labels:
            raise ValueError("must be one of the project's servers as user@host:port (%s); "
                             "got %r" % (", ".join(labels) or "no servers", value))
        return value

    @field_validator("agent_pool")
    @classmethod
    def _pool(cls, value: str) -> str:
        return check_pool(value)

    @field_validator("scripts")
    @classmethod
    def _scripts(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SCRIPTS))
        if unknown:
            raise ValueError("unknown script kind(s) %s; known: %s"
                             % (", ".join(unknown), ", ".join(sorted(SCRIPTS))))
        if sum(len(body) for body in value.values()) > MAX_SCRIPTS_TOTAL:
            raise ValueError("all scripts together must be at most 1 MiB")
        return {kind: body.replace("\r\n", "\n") for kind, body in value.items()}

    @field_validator("servers")
    @classmethod
    def _unique_servers(cls, value: list[ServerInput]) -> list[ServerInput]:
        seen: set[tuple[str, int, str]] = set()
        for server in value:
            key = (server.host, server.port, server.user)
            if key in seen:
                raise ValueError("server %s@%s:%d is listed twice" % (server.user, server.host,
                                                                      server.port))
            seen.add(key)
        return value


class ReleaseInput(Input):
    comment: Annotated[str, BeforeValidator(_strip), AfterValidator(_no_nul),
                       Field(max_length=2000)] = ""
    ref: Annotated[GitRef, STRIP, ONE_LINE, limits()] | None = None
    release_line: int | None = Field(default=None, ge=0, le=999_999_999)


InputT = TypeVar("InputT", bound=BaseModel)


def parse(schema: type[InputT], data: object) -> InputT:
    """Validate ``data`` against ``schema``; raise InvalidInput naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput("expected a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        raise InvalidInput("%s: %s" % (field, message) if field else message,
                           field=field) from None
