"""The builder boundary: build a version once, upload it to every server.

Command ``build`` (routed to the project's agent pool) → events
``task_started``, ``task_log``/``task_step`` while it runs, ``build_built``
when the build script succeeded, ``build_installing`` when the upload starts,
``server_ready`` per server, and one terminal event: ``build_finished``
(installed everywhere), ``build_failed`` or ``build_cancelled``.
"""
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from rds_contracts.base import (
    Command,
    Count,
    CronConfig,
    DeployPath,
    GitRef,
    Id,
    Int32,
    Message,
    ProjectName,
    Repository,
    Script,
    ServerResult,
    ServerSpec,
    TaskEvent,
    Version,
)
from rds_contracts.configs import ConfigName
from rds_contracts.migrator import MigrationListing
from rds_core import shared

SharedPath = Annotated[str, AfterValidator(shared.check_shared_path)]

SERVICE_NAME = "builder"

BUILD = "build"

BUILD_BUILT = "build_built"
BUILD_INSTALLING = "build_installing"
SERVER_READY = "server_ready"
BUILD_FINISHED = "build_finished"
BUILD_FAILED = "build_failed"
BUILD_CANCELLED = "build_cancelled"


class UploadPolicy(Message):
    """How to fan the upload out: at most ``concurrency`` servers at once,
    and give up once more than ``max_failures`` servers failed."""

    concurrency: int = Field(default=8, ge=1, le=256)
    max_failures: Int32 = 0


class BuildCommand(Command):
    project: ProjectName
    repository: Repository
    ref: GitRef
    version: Version
    release_line: Int32
    build_script: Script = Field(min_length=1)
    deploy_path: DeployPath
    servers: list[ServerSpec] = Field(min_length=1, max_length=1000)
    upload: UploadPolicy = UploadPolicy()
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    #: Linked from <deploy_path>/shared/ into the release (see rds_core.shared).
    shared_files: list[SharedPath] = Field(default_factory=list,
                                           max_length=shared.MAX_SHARED_PATHS)
    shared_dirs: list[SharedPath] = Field(default_factory=list,
                                          max_length=shared.MAX_SHARED_PATHS)
    #: Config file names, linked from <deploy_path>/shared/config/.
    config_files: list[ConfigName] = Field(default_factory=list,
                                           max_length=shared.MAX_CONFIG_FILES)
    cron_script: Script | None = None
    deploy_script: Script | None = None
    post_deploy_script: Script | None = None
    #: Install on missing servers: the tree built must have exactly this manifest
    #: (the one verified on the other servers), or the build fails before uploading.
    expect_manifest_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: The project's ``migrations`` (listing) script, run in the built tree.
    migrations_script: Script | None = None


class BuildBuilt(TaskEvent):
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    files: Count
    bytes: Count
    #: What the cron script printed (None: the project has no cron script).
    cron: CronConfig | None = None


class BuildInstalling(TaskEvent):
    servers: int = Field(ge=1, le=1000)


class ServerReady(TaskEvent):
    server_id: Id
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    files_sent: Count
    bytes_sent: Count
    seeded_from: str | None = Field(default=None, max_length=64)


class BuildFinished(TaskEvent):
    servers: list[ServerResult] = Field(max_length=1000)
    #: What the ``migrations`` script listed (None: the project has none).
    migrations: MigrationListing | None = None


class BuildFailed(TaskEvent):
    phase: Literal["checkout", "build", "migrations", "cron", "link", "pack", "deploy",
                   "upload", "post_deploy", "internal"]
    reason: str = Field(max_length=8192)
    servers: list[ServerResult] = Field(default_factory=list, max_length=1000)


class BuildCancelled(TaskEvent):
    reason: str = Field(default="cancelled on request", max_length=8192)
