"""Config files of a project: list, read, save a version, delete, history.

Contents are secrets: every response carries ``content`` only for roles
that may read it (admin, deployer; ``rds_control.configs.may_read_contents``)
and ``content: null, content_hidden: true`` for the others.
"""
from datetime import datetime

from flask import g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from rds_control import configs, projects
from rds_control.configs import ServerHolds
from rds_db.models import ConfigFile, ConfigFileVersion
from rds_web.api import bp, json_body
from rds_web.api.longpoll import long_poll, seconds_arg
from rds_web.api.schemas import Out, dump
from rds_web.auth import require
from rds_web.db import get_session, run


class ServerPushOut(Out):
    server: str
    ok: bool
    error: str | None


class ConfigVersionOut(Out):
    file: str
    version: int
    #: The project's config revision this version made.
    revision: int
    deleted: bool
    comment: str
    author: str | None
    created_at: datetime | None
    #: pending, pushed, failed or skipped; results per server once known.
    upload_state: str | None
    upload_results: list[ServerPushOut] | None
    upload_log: str | None
    task_id: str | None
    content: str | None
    content_hidden: bool

    @classmethod
    def of(cls, row: ConfigFileVersion, readable: bool) -> "ConfigVersionOut":
        return cls(file=row.file.filename, version=row.version, revision=row.project_revision,
                   deleted=row.deleted, comment=row.comment,
                   author=row.user.username if row.user else None, created_at=row.created_at,
                   upload_state=row.upload_state,
                   upload_results=[ServerPushOut(**r) for r in row.upload_results or []]
                   if row.upload_results is not None else None,
                   upload_log=row.upload_log, task_id=row.task_id,
                   content=row.content if readable else None, content_hidden=not readable)


class ServerHoldsOut(Out):
    server: str
    #: e.g. "version 3", "missing", "changed on the server: matches no version".
    summary: str
    version: int | None
    current: bool


class ConfigFileOut(Out):
    name: str
    version: int
    updated_at: datetime | None
    content: str | None
    content_hidden: bool
    #: Newest first (only when showing one file).
    versions: list[ConfigVersionOut] | None = None
    #: What each server held at the last check (``POST .../configs/check``).
    servers: list[ServerHoldsOut] | None = None
    servers_checked_at: datetime | None = None

    @classmethod
    def of(cls, row: ConfigFile, readable: bool,
           versions: list[ConfigVersionOut] | None = None,
           holdings: list[ServerHolds] | None = None) -> "ConfigFileOut":
        return cls(name=row.filename, version=row.version, updated_at=row.updated_at,
                   content=row.content if readable else None, content_hidden=not readable,
                   versions=versions, servers_checked_at=row.server_checked_at,
                   servers=None if holdings is None else [
                       ServerHoldsOut(server=h.server, summary=h.summary, version=h.version,
                                      current=h.current) for h in holdings])


class ConfigFileList(Out):
    project: str
    #: The project's current config revision (each release records the one it shipped with).
    revision: int
    files: list[ConfigFileOut]


@bp.get("/projects/<name>/configs")
@require("view")
def list_configs(name: str) -> ResponseReturnValue:
    """List a project's config files (contents only for admin and deployer)."""
    session = get_session()
    project = projects.get_project(session, name)
    readable = configs.may_read_contents(g.user)
    return dump(ConfigFileList(project=project.name, revision=project.config_revision,
                               files=[ConfigFileOut.of(f, readable)
                                      for f in configs.list_files(session, project)]))


@bp.get("/projects/<name>/configs/<path:filename>")
@require("view")
def show_config(name: str, filename: str) -> ResponseReturnValue:
    """One config file with its history. :raise 404: unknown project or file."""
    session = get_session()
    project = projects.get_project(session, name)
    found = configs.get_file(session, project, filename)
    readable = configs.may_read_contents(g.user)
    return dump(ConfigFileOut.of(found, readable, [
        ConfigVersionOut.of(v, readable) for v in configs.history(session, found)],
        configs.server_holdings(session, found)))


@bp.get("/projects/<name>/configs/<path:filename>/versions/<int:version>")
@require("view")
def show_config_version(name: str, filename: str, version: int) -> ResponseReturnValue:
    """One version of a config file (deleted files too).

    With ``?wait=<seconds>`` (max 60) it long-polls until the version's upload
    is no longer pending.
    """
    wait = seconds_arg("wait", 0)

    def read() -> dict[str, object]:
        session = get_session()
        project = projects.get_project(session, name)
        found = configs.get_file(session, project, filename, include_deleted=True)
        return dump(ConfigVersionOut.of(configs.get_version(session, found, version),
                                        configs.may_read_contents(g.user)))
    return long_poll(read, lambda data: data["upload_state"] != "pending", wait)


@bp.put("/projects/<name>/configs/<path:filename>")
@require("manage_projects")
def save_config(name: str, filename: str) -> ResponseReturnValue:
    """Save a new version (``{"content", "comment"}``) and push it to every server.

    :raise 400: bad name or content (the field is named); 409: unchanged.
    """
    data = json_body()

    def save(session: Session) -> dict[str, object]:
        row = configs.save_file(session, name, filename, data, g.user)
        return dump(ConfigVersionOut.of(row, True))
    return run(save), 201


@bp.delete("/projects/<name>/configs/<path:filename>")
@require("manage_projects")
def delete_config(name: str, filename: str) -> ResponseReturnValue:
    """Delete a config file (history kept) and push the revision without it."""
    data = json_body() if request.data else {}

    def delete(session: Session) -> dict[str, object]:
        return dump(ConfigVersionOut.of(configs.delete_file(session, name, filename, data,
                                                            g.user), True))
    return run(delete)


@bp.post("/projects/<name>/configs/push")
@require("manage_projects")
def push_configs(name: str) -> ResponseReturnValue:
    """Push the current config revision to every server again. :raise 409: none or busy."""
    def push(session: Session) -> dict[str, object]:
        rows = configs.push_again(session, name, g.user)
        return dump(ConfigFileList(project=name, revision=rows[0].project_revision,
                                   files=[]))
    return run(push), 202


class CheckOut(Out):
    task_id: str


@bp.post("/projects/<name>/configs/check")
@require("manage_projects")
def check_configs(name: str) -> ResponseReturnValue:
    """Ask every server which config it holds (SHA-256s); see each file's ``servers``."""
    return run(lambda s: dump(CheckOut(task_id=configs.check_servers(s, name,
                                                                     g.user).id))), 202


RESPONSES = (CheckOut, ConfigFileList, ConfigFileOut, ConfigVersionOut)
