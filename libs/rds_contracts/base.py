"""Shared building blocks of every message schema.

Every integer on the wire is bounded (``Int32``, ``Id``, ``Count``) so a
message that passes its contract never carries a value the database cannot
store: an out-of-range number is a malformed message, dead-lettered by the
consumer with the field named, instead of a database error retried forever.
"""
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rds_core import names

ProjectName = Annotated[str, AfterValidator(names.check_project_name)]
Version = Annotated[str, AfterValidator(names.check_version)]
DeployPath = Annotated[str, AfterValidator(names.check_deploy_path)]
Host = Annotated[str, AfterValidator(names.check_host)]
ServerUser = Annotated[str, AfterValidator(names.check_server_user)]
Port = Annotated[int, AfterValidator(names.check_port)]
GitRef = Annotated[str, AfterValidator(names.check_git_ref)]
Repository = Annotated[str, AfterValidator(names.check_repository)]
StepName = Annotated[str, AfterValidator(names.check_step_name)]
TaskId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
RunId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
#: PostgreSQL ``integer``: what every id and counter column of rds holds.
INT32_MAX = 2**31 - 1
#: PostgreSQL ``bigint``: byte counts.
INT64_MAX = 2**63 - 1
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Seq = Annotated[int, Field(ge=1, le=INT32_MAX)]
Script = Annotated[str, Field(max_length=256 * 1024)]
UserName = Annotated[str, Field(max_length=128)]
#: What a project's cron script printed: the lines of its crontab block.
CronConfig = Annotated[str, Field(max_length=64 * 1024)]

#: Largest log chunk one event may carry; agents split longer output.
MAX_LOG_CHUNK = 64 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


def sanitize_text(text: str) -> str:
    """``text`` without what PostgreSQL cannot store: NUL and lone surrogates
    (left by undecodable bytes) become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def sanitize(value: Any) -> Any:
    """``value`` (a JSON-like structure) with every string passed through
    :func:`sanitize_text`."""
    if isinstance(value, str):
        return sanitize_text(value)
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value


class Message(BaseModel):
    """Base of every command and event: strict, immutable, JSON on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ServerSpec(Message):
    """One application server as the agents see it."""

    id: Id
    host: Host
    port: Port = 22
    user: ServerUser

    @property
    def label(self) -> str:
        return "%s@%s:%d" % (self.user, self.host, self.port)


class Command(Message):
    """A command starts one task on one agent."""

    task_id: TaskId
    initiator: UserName = "rds"


class TaskEvent(Message):
    """An event about a running task.

    ``run_id`` names one run of the task (a redelivered command starts a new
    run); ``seq`` increases by one per event within a run. Ingest drops
    duplicates and events from stale runs, and refuses transitions older than
    the newest one it applied.
    """

    task_id: TaskId
    run_id: RunId
    seq: Seq
    at: datetime = Field(default_factory=utcnow)


class ServerResult(Message):
    """What one server reported at the end of a step."""

    server_id: Id
    ok: bool
    current: str | None = Field(default=None, max_length=4096)
    error: str | None = Field(default=None, max_length=8192)
