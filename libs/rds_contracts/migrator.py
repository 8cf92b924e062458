"""The migrator boundary: run one pre/post migration of a deployed project.

Command ``migrate`` (routed to the project's agent pool) → ``task_started``,
``task_log``/``task_step`` while the project's ``migration`` script runs on
the migration host over SSH, then one terminal event: ``migration_finished``,
``migration_failed`` (with the script's exit status and last output) or
``migration_cancelled``. The migrator never touches rds's database: the
command carries the script, the host and everything the script's
environment needs.

The builder reports the migrations a release lists in ``build_finished``
(:class:`MigrationListing`), so a release is installed and its pending
migrations recorded in one transaction.
"""
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

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
from rds_core.migrations import MAX_LISTED, check_migration_name

SERVICE_NAME = "migrator"

MIGRATE = "migrate"

MIGRATION_FINISHED = "migration_finished"
MIGRATION_FAILED = "migration_failed"
MIGRATION_CANCELLED = "migration_cancelled"

MigrationName = Annotated[str, AfterValidator(check_migration_name)]


class MigrationListing(Message):
    """The names the ``migrations`` script printed for each type, in order."""

    pre: list[MigrationName] = Field(default_factory=list, max_length=MAX_LISTED)
    post: list[MigrationName] = Field(default_factory=list, max_length=MAX_LISTED)


class MigrateCommand(Command):
    project: ProjectName
    #: The release whose directory the script runs in (``releases/<version>``).
    version: Version
    release_line: int = Field(ge=0)
    deploy_path: DeployPath
    #: Every server of the project (for the script's environment).
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    #: Where the script runs: the project's migration host.
    host: ServerSpec
    type: Literal["pre", "post"]
    name: MigrationName
    direction: Literal["up", "down"]
    script: Script = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)


class MigrationFinished(TaskEvent):
    pass


class MigrationFailed(TaskEvent):
    reason: str = Field(max_length=8192)
    exit_status: int | None = None


class MigrationCancelled(TaskEvent):
    reason: str = Field(default="cancelled on request", max_length=8192)
