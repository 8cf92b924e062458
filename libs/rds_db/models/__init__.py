"""All models of rds's database, importable from one place."""
from rds_db.models.agents import Agent, IngestProbe
from rds_db.models.audit import AuditEntry
from rds_db.models.base import Base
from rds_db.models.changes import Change
from rds_db.models.configs import ConfigFile, ConfigFileVersion
from rds_db.models.controls import DeploymentSwitch, ReleaseBan
from rds_db.models.migrations import Migration
from rds_db.models.notices import NotificationChannel, NotificationMessage
from rds_db.models.outbox import OutboxMessage
from rds_db.models.projects import (
    Project,
    ProjectLineCounter,
    ProjectLink,
    ProjectScript,
    ReleaseLine,
    Server,
)
from rds_db.models.releases import ReleaseRequest, ReleaseTarget
from rds_db.models.tasks import Task, TaskLog, TaskLogSize
from rds_db.models.users import ApiToken, LoginThrottle, Role, User

__all__ = [
    "Agent", "ApiToken", "AuditEntry", "Base", "Change", "ConfigFile", "ConfigFileVersion",
    "DeploymentSwitch", "IngestProbe", "LoginThrottle", "Migration", "NotificationChannel",
    "NotificationMessage", "OutboxMessage", "Project", "ProjectLineCounter", "ProjectLink",
    "ProjectScript", "ReleaseBan", "ReleaseLine", "ReleaseRequest",
    "ReleaseTarget", "Role", "Server", "Task", "TaskLog", "TaskLogSize", "User",
]
