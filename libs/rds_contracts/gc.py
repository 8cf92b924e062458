"""The gc boundary: remove a release from the servers, and read what the servers hold.

Command ``remove_release`` (routed to the project's agent pool) →
``task_started``, ``task_log``/``task_step``, then ``removal_finished``
(every server confirmed the release directory is gone) or ``removal_failed``
(some server did not: unreachable, the remove script failed, or ``current``
points at the release, which is drift and never removed). Both carry one
:class:`ServerRemoval` per server; a directory that was already gone counts
as removed (removal is idempotent).

Command ``inspect_servers`` → ``servers_inspected`` with one
:class:`ServerInventory` per server: where ``current`` points and which
release directories exist (the control plane compares that with the
database: drift). It also removes staging directories left behind by
interrupted uploads (``releases/.<v>.partial-*``) older than
``sweep_staging_older_than`` seconds. ``inspection_failed`` ends a run that
crashed.
"""
from pydantic import Field

from rds_contracts.base import (
    Command,
    DeployPath,
    Message,
    ProjectName,
    Script,
    ServerSpec,
    TaskEvent,
    Version,
)

SERVICE_NAME = "gc"

REMOVE_RELEASE = "remove_release"
INSPECT_SERVERS = "inspect_servers"

REMOVAL_FINISHED = "removal_finished"
REMOVAL_FAILED = "removal_failed"
SERVERS_INSPECTED = "servers_inspected"
INSPECTION_FAILED = "inspection_failed"

#: Staging directories younger than this are never swept (an upload may be running).
DEFAULT_STAGING_MAX_AGE = 3600


class RemoveReleaseCommand(Command):
    project: ProjectName
    version: Version
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    #: The project's ``remove`` script: run instead of the built-in removal.
    remove_script: Script | None = None
    concurrency: int = Field(default=16, ge=1, le=256)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)


class ServerRemoval(Message):
    """One server's answer to a removal."""

    server_id: int
    #: The release directory is gone from this server (removed now or before).
    ok: bool
    #: It was there and this run removed it (False: already gone, or refused).
    removed: bool = False
    #: What ``current`` pointed at when checked (None: no ``current``).
    current: str | None = None
    #: ``current`` points at the release the database wants removed.
    drift: bool = False
    error: str | None = Field(default=None, max_length=8192)


class RemovalFinished(TaskEvent):
    servers: list[ServerRemoval]


class RemovalFailed(TaskEvent):
    reason: str = Field(max_length=8192)
    servers: list[ServerRemoval] = Field(default_factory=list)


class InspectServersCommand(Command):
    project: ProjectName
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    #: Remove ``releases/.<v>.partial-*`` staging directories older than this
    #: many seconds (None: leave them).
    sweep_staging_older_than: int | None = Field(default=DEFAULT_STAGING_MAX_AGE, ge=60)
    concurrency: int = Field(default=16, ge=1, le=256)


class ServerInventory(Message):
    """What one server holds under the deploy path."""

    server_id: int
    ok: bool
    error: str | None = Field(default=None, max_length=8192)
    #: Target of ``current`` (None: missing).
    current: str | None = Field(default=None, max_length=4096)
    #: Release directories (names that are versions).
    releases: list[str] = Field(default_factory=list, max_length=100000)
    #: Other entries in ``releases/`` (not versions, not rds's own staging).
    unknown: list[str] = Field(default_factory=list, max_length=10000)
    #: Staging directories still there (young ones: an upload may be running).
    staging: list[str] = Field(default_factory=list, max_length=10000)
    #: Staging directories this run removed.
    swept: list[str] = Field(default_factory=list, max_length=10000)


class ServersInspected(TaskEvent):
    servers: list[ServerInventory]


class InspectionFailed(TaskEvent):
    reason: str = Field(max_length=8192)
