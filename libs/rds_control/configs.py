"""Local config files of a project: save, delete, history, and their push.

Every save or delete of a file is one new *revision* of the project's config
(``project.config_revision``, bumped under the project row lock) and one new
``ConfigFileVersion`` row (author, comment, time, content). The revision is
then pushed to every server through one ``push_config`` task carrying every
live file, so a server always holds a whole revision; the task's outcome
(state, per-server results, log) lands on the version row. Each release
records the revision it was built with.

Contents are secrets: the audit log says only that a version changed, and
only roles with :data:`CONTENT_PERMISSION` may read them (the API and UI ask
:func:`may_read_contents`).
"""
import enum
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from rds_contracts.base import ServerResult
from rds_contracts.configs import ConfigFile as WireConfigFile
from rds_contracts.configs import (
    ConfigInspected,
    ConfigPushed,
    ConfigPushFailed,
    InspectConfigCommand,
    PushConfigCommand,
)
from rds_control import audit
from rds_control.errors import Conflict, InvalidInput, NotFound
from rds_control.inputs import Input, parse
from rds_control.projects import get_project
from rds_control.tasks import finish_task, new_task_id, server_specs, start_task
from rds_control.users import can
from rds_core import shared
from rds_core.lifecycle import TaskKind, TaskStatus
from rds_db.models import (
    ConfigFile,
    ConfigFileVersion,
    Project,
    ReleaseRequest,
    Server,
    Task,
    TaskLog,
    User,
)
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)

#: Who may read config contents (admin and deployer): they are secrets.
CONTENT_PERMISSION = "manage_projects"


class UploadState(enum.StrEnum):
    PENDING = "pending"    # the push task is queued or running
    PUSHED = "pushed"      # every server has this revision
    FAILED = "failed"      # at least one server does not (see upload_results)
    SKIPPED = "skipped"    # the project has no servers


class ConfigInput(Input):
    content: str
    comment: str = Field(default="", max_length=2000)

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        return shared.check_config_content(value.replace("\r\n", "\n"))

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("comment must not contain a NUL byte")
        return value.strip()


class DeleteInput(Input):
    comment: str = Field(default="", max_length=2000)


def may_read_contents(user: User | None) -> bool:
    return can(user, CONTENT_PERMISSION)


def check_filename(filename: str) -> str:
    try:
        return shared.check_config_name(filename)
    except shared.InvalidSharedPath as exc:
        raise InvalidInput(str(exc), field="filename") from None


def list_files(session: Session, project: Project) -> list[ConfigFile]:
    """The project's live config files, by name."""
    return list(session.scalars(select(ConfigFile).where(
        ConfigFile.project_id == project.id, ConfigFile.deleted_at.is_(None))
        .order_by(ConfigFile.filename)))


def get_file(session: Session, project: Project, filename: str,
             include_deleted: bool = False) -> ConfigFile:
    query = select(ConfigFile).where(ConfigFile.project_id == project.id,
                                     ConfigFile.filename == filename)
    found = session.scalars(query).one_or_none()
    if found is None or (found.deleted_at is not None and not include_deleted):
        raise NotFound("project %s has no config file %r" % (project.name, filename))
    return found


def history(session: Session, config_file: ConfigFile) -> list[ConfigFileVersion]:
    """Every version of a file, newest first."""
    return list(session.scalars(select(ConfigFileVersion).where(
        ConfigFileVersion.config_file_id == config_file.id)
        .order_by(ConfigFileVersion.version.desc())))


def get_version(session: Session, config_file: ConfigFile, version: int) -> ConfigFileVersion:
    row = session.scalars(select(ConfigFileVersion).where(
        ConfigFileVersion.config_file_id == config_file.id,
        ConfigFileVersion.version == version)).one_or_none()
    if row is None:
        raise NotFound("config file %r has no version %s" % (config_file.filename, version))
    return row


def save_file(session: Session, project_name: str, filename: str, data: object,
              user: User | None) -> ConfigFileVersion:
    """Save a new version of a config file (creating it) and push the revision."""
    filename = check_filename(filename)
    values = parse(ConfigInput, data)
    project = get_project(session, project_name, lock=True)
    found = session.scalars(select(ConfigFile).where(
        ConfigFile.project_id == project.id, ConfigFile.filename == filename)
        .with_for_update()).one_or_none()
    if found is None or found.deleted_at is not None:
        live = len(list_files(session, project))
        if live >= shared.MAX_CONFIG_FILES:
            raise Conflict("project %s already has %d config files (the limit)"
                           % (project.name, live), field="filename")
        _check_no_overlap(project, filename, list_files(session, project))
    elif found.content == values.content:
        raise Conflict("config file %r is unchanged: nothing to save" % filename,
                       field="content")
    if found is None:
        found = ConfigFile(project_id=project.id, filename=filename, content="", version=0)
        session.add(found)
    found.version += 1
    found.content = values.content
    found.deleted_at = None
    row = _new_revision(session, project, found, values.content, values.comment, user)
    audit.record(session, "config.saved", "Saved config file %s of %s: version %d "
                 "(revision %d)%s" % (filename, project.name, row.version,
                                      row.project_revision, _comment(values.comment)),
                 user=user, project=project, file=filename, version=row.version,
                 revision=row.project_revision)
    return row


def delete_file(session: Session, project_name: str, filename: str, data: object,
                user: User | None) -> ConfigFileVersion:
    """Delete a config file (its history stays) and push the revision without it."""
    filename = check_filename(filename)
    values = parse(DeleteInput, data or {})
    project = get_project(session, project_name, lock=True)
    found = get_file(session, project, filename)
    found.version += 1
    found.content = ""
    found.deleted_at = utcnow()
    row = _new_revision(session, project, found, "", values.comment, user, deleted=True)
    audit.record(session, "config.deleted", "Deleted config file %s of %s (revision %d)%s"
                 % (filename, project.name, row.project_revision, _comment(values.comment)),
                 user=user, project=project, file=filename, revision=row.project_revision)
    return row


def push_again(session: Session, project_name: str,
               user: User | None) -> list[ConfigFileVersion]:
    """Push the current revision again (after a failed upload, or to new servers)."""
    project = get_project(session, project_name, lock=True)
    if project.config_revision == 0:
        raise Conflict("project %s has no config files to push" % project.name)
    rows = list(session.scalars(select(ConfigFileVersion).join(ConfigFile).where(
        ConfigFile.project_id == project.id,
        ConfigFileVersion.project_revision == project.config_revision)))
    if any(row.upload_state == UploadState.PENDING for row in rows):
        raise Conflict("revision %d of %s is being pushed right now"
                       % (project.config_revision, project.name))
    push_revision(session, project, user, rows)
    audit.record(session, "config.pushed_again", "Pushing config revision %d of %s again"
                 % (project.config_revision, project.name), user=user, project=project,
                 revision=project.config_revision)
    return rows


def check_servers(session: Session, project_name: str, user: User | None) -> Task:
    """Ask the activator which config every server holds (SHA-256s, never contents)."""
    project = get_project(session, project_name, lock=True)
    if not project.servers:
        raise Conflict("project %s has no servers to check" % project.name)
    command = InspectConfigCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        deploy_path=project.deploy_path, servers=server_specs(project),
        names=[f.filename for f in list_files(session, project)])
    return start_task(session, TaskKind.CONFIG_CHECK, project, command, user=user)


def _on_inspected(session: Session, task: Task, event: ConfigInspected) -> None:
    finish_task(session, task, TaskStatus.FAILED if event.error else TaskStatus.SUCCEEDED,
                error=event.error)
    if event.error:
        return
    labels = {s.id: s.label for s in task.project.servers}
    for config_file in list_files(session, task.project):
        state: dict[str, dict[str, object]] = {}
        for result in event.servers:
            label = labels.get(result.server_id, "server %d" % result.server_id)
            state[label] = {"revision": result.revision, "error": result.error,
                            "sha256": result.files.get(config_file.filename)}
        config_file.server_state = state
        config_file.server_checked_at = event.at


@dataclass(frozen=True)
class ServerHolds:
    """What one server holds of a config file, in words and as a version to diff."""

    server: str
    summary: str
    #: The version whose content the server holds (None: missing, unknown or error).
    version: int | None
    current: bool


def server_holdings(session: Session, config_file: ConfigFile) -> list[ServerHolds]:
    """Compare the last check of the servers with the file's versions."""
    by_hash: dict[str, int] = {}
    for row in history(session, config_file):
        if not row.deleted:
            by_hash.setdefault(hashlib.sha256(row.content.encode()).hexdigest(), row.version)
    holdings = []
    for server, state in sorted((config_file.server_state or {}).items()):
        if state.get("error"):
            holdings.append(ServerHolds(server, "not checked: %s" % state["error"], None,
                                        False))
        elif state.get("sha256") is None:
            holdings.append(ServerHolds(server, "missing", None, False))
        elif state["sha256"] in by_hash:
            version = by_hash[state["sha256"]]
            holdings.append(ServerHolds(server, "version %d%s" % (version, "" if version == (
                config_file.version) else " (not the current one)"), version,
                version == config_file.version))
        else:
            holdings.append(ServerHolds(server, "changed on the server: matches no version",
                                        None, False))
    return holdings


def _comment(comment: str) -> str:
    return ": %s" % comment if comment else ""


def _check_no_overlap(project: Project, filename: str, files: list[ConfigFile]) -> None:
    for other in [f.filename for f in files]:
        if filename.startswith(other + "/") or other.startswith(filename + "/"):
            raise InvalidInput("config file %r would lie inside config file %r (or contain "
                               "it)" % (filename, other), field="filename")
    in_config_dir = shared.CONFIG_DIR + "/" + filename
    for path in list(project.shared_files or []) + list(project.shared_dirs or []):
        if filename == path or filename.startswith(path + "/") or path.startswith(
                filename + "/") or in_config_dir == path or in_config_dir.startswith(
                path + "/"):
            raise InvalidInput("config file %r overlaps the shared path %r: both are linked "
                               "into every release" % (filename, path), field="filename")


def _new_revision(session: Session, project: Project, config_file: ConfigFile, content: str,
                  comment: str, user: User | None, deleted: bool = False) -> ConfigFileVersion:
    project.config_revision += 1
    row = ConfigFileVersion(file=config_file, version=config_file.version,
                            project_revision=project.config_revision, content=content,
                            comment=comment, user_id=user.id if user else None,
                            deleted=deleted, created_at=utcnow())
    session.add(row)
    session.flush()
    push_revision(session, project, user, [row])
    return row


def build_fields(project: Project, revision: int | None = None) -> dict[str, Any]:
    """What a build command needs to link shared paths and config files, run cron,
    a custom deploy and post-deploy (``BuildCommand`` fields).

    ``revision``: link the config files of that revision (installing a release
    on missing servers must rebuild exactly the tree verified elsewhere).
    """
    if revision is None:
        names = [f.filename for f in project_config_files(project)]
    else:
        names = list(revision_files(_session_of(project), project, revision))
    return dict(shared_files=list(project.shared_files or []),
                shared_dirs=list(project.shared_dirs or []),
                config_files=sorted(names),
                cron_script=project.script("cron"), deploy_script=project.script("deploy"),
                post_deploy_script=project.script("post_deploy"))


def cron_fields(release: ReleaseRequest,
                live: ReleaseRequest | None) -> dict[str, str | None]:
    """``ActivateCommand`` cron fields: None when neither release has cron (no server
    is touched), "" to remove the block when only the replaced release had one."""
    had = live is not None and live.cron_config is not None
    if release.cron_config is None and not had:
        return {"cron": None, "previous_cron": None}
    return {"cron": release.cron_config or "",
            "previous_cron": live.cron_config if live is not None else None}


def _session_of(project: Project) -> Session:
    session = object_session(project)
    if session is None:
        raise ValueError("project %s is not attached to a session" % project.name)
    return session


def project_config_files(project: Project) -> list[ConfigFile]:
    return list_files(_session_of(project), project)


def push_revision(session: Session, project: Project, user: User | None,
                  rows: list[ConfigFileVersion]) -> Task | None:
    """Queue the push of the project's current revision; note it on ``rows``."""
    if not project.servers:
        for row in rows:
            row.upload_state = UploadState.SKIPPED
            row.upload_log = "The project has no servers: nothing was uploaded."
        return None
    files = [WireConfigFile(name=f.filename, content=f.content)
             for f in list_files(session, project)]
    command = PushConfigCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        deploy_path=project.deploy_path, servers=server_specs(project),
        revision=project.config_revision, files=files,
        upload_script=project.script("config_upload"))
    task = start_task(session, TaskKind.CONFIG, project, command, user=user)
    for row in rows:
        row.task_id = task.id
        row.upload_state = UploadState.PENDING
    return task


def finish_push(session: Session, task: Task, ok: bool, servers: Iterable[ServerResult] = (),
                reason: str | None = None) -> None:
    """Record a push's outcome on its task and on the versions it carried."""
    finish_task(session, task, TaskStatus.SUCCEEDED if ok else TaskStatus.FAILED, error=reason)
    results: list[dict[str, Any]] = []
    for result in servers:
        server = session.get(Server, result.server_id)
        results.append({"server": server.label if server else "server %d" % result.server_id,
                        "ok": result.ok, "error": result.error})
    summary = "\n".join("%s: %s" % (r["server"], "ok" if r["ok"] else r["error"])
                        for r in results) or (reason or "")
    for row in session.scalars(select(ConfigFileVersion).where(
            ConfigFileVersion.task_id == task.id)):
        row.upload_state = UploadState.PUSHED if ok else UploadState.FAILED
        row.upload_results = results
        row.upload_log = summary if ok or not reason else "%s\n%s" % (reason, summary)
    if not ok:
        audit.record(session, "config.push_failed", "Config revision %s of %s did not reach "
                     "every server: %s" % (task.command.get("revision"), task.project.name,
                                           reason), actor="agent:%s" % (task.agent or "?"),
                     project=task.project)


def _on_pushed(session: Session, task: Task, event: ConfigPushed) -> None:
    finish_push(session, task, True, event.servers)


def _on_push_failed(session: Session, task: Task, event: ConfigPushFailed) -> None:
    finish_push(session, task, False, event.servers, event.reason)


def redacted_command(command: dict[str, Any] | None) -> dict[str, Any] | None:
    """A task's command as operators may see it: config contents replaced by their size."""
    if not command or not isinstance(command.get("files"), list):
        return command
    return dict(command, files=[
        dict(f, content="<%d bytes, hidden>" % len(str(f.get("content", "")).encode()))
        if isinstance(f, dict) else f for f in command["files"]])


def task_log_text(session: Session, task_id: str | None) -> str:
    """The upload log of a push task (server and file names, never contents)."""
    if task_id is None:
        return ""
    task = session.get(Task, task_id)
    if task is None:
        return ""
    chunks = session.scalars(select(TaskLog.text).where(
        TaskLog.task_id == task_id, TaskLog.run_id == task.run_id).order_by(TaskLog.seq))
    return "".join(chunks)


def revision_files(session: Session, project: Project, revision: int) -> dict[str, str]:
    """The files a project revision consisted of: {name: content}."""
    rows = session.scalars(select(ConfigFileVersion).join(ConfigFile).where(
        ConfigFile.project_id == project.id,
        ConfigFileVersion.project_revision <= revision)
        .order_by(ConfigFileVersion.project_revision))
    files: dict[str, str] = {}
    for row in rows:
        if row.deleted:
            files.pop(row.file.filename, None)
        else:
            files[row.file.filename] = row.content
    return files


#: Ingest handlers of the config push events (``rds_control.ingest`` adds them).
def ingest_handlers() -> dict[str, Callable[[Session, Task, Any], None]]:
    from rds_contracts import configs

    return {configs.CONFIG_PUSHED: _on_pushed, configs.CONFIG_PUSH_FAILED: _on_push_failed,
            configs.CONFIG_INSPECTED: _on_inspected}
