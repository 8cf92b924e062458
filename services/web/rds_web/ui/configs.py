"""Config files of a project: list, edit with a comment, delete, history, diff.

Viewers see names, history, authors, comments and upload results; only
roles allowed by ``rds_control.configs.may_read_contents`` see contents and
diffs (contents are secrets).
"""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from rds_control import configs, projects
from rds_control.errors import ControlError
from rds_db.models import ConfigFile, Project
from rds_web.db import get_session, run
from rds_web.ui.common import requires
from rds_web.ui.diff import side_by_side, stats

bp = Blueprint("configs", __name__, url_prefix="/projects/<name>/configs")


def _readable() -> bool:
    return configs.may_read_contents(g.user)


def _form_version() -> dict[str, str]:
    """The new version's content and comment as the form sent them."""
    return {"content": request.form.get("content", ""),
            "comment": request.form.get("comment", "")}


def _saved(name: str, filename: str, version: int) -> Response:
    flash("Saved %s (version %d); pushing it to every server." % (filename, version),
          "success")
    return redirect(url_for("configs.show", name=name, filename=filename))


def _history_context(session: Session, project: Project,
                     found: ConfigFile) -> dict[str, object]:
    versions = configs.history(session, found)
    return {"project": project, "file": found, "versions": versions,
            "readable": _readable(), "holdings": configs.server_holdings(session, found),
            "logs": {v.version: configs.task_log_text(session, v.task_id) for v in versions}}


@bp.get("")
@requires("view")
def index(name: str) -> ResponseReturnValue:
    """List a project's config files, with a form for a new one."""
    session = get_session()
    project = projects.get_project(session, name)
    return render_template("configs.html", project=project,
                           files=configs.list_files(session, project), values={},
                           errors={}, readable=_readable())


@bp.post("")
@requires("manage_projects")
def create(name: str) -> ResponseReturnValue:
    """Create a config file (its first version) and push it; nothing saved on error."""
    filename = (request.form.get("filename") or "").strip()
    data = _form_version()
    try:
        row = run(lambda s: configs.save_file(s, name, filename, data, g.user))
    except ControlError as exc:
        session = get_session()
        project = projects.get_project(session, name)
        return render_template("configs.html", project=project,
                               files=configs.list_files(session, project),
                               values=dict(data, filename=filename),
                               errors={exc.field or "filename": exc.message},
                               readable=True), exc.status
    return _saved(name, filename, row.version)


@bp.post("/_push")
@requires("manage_projects")
def push(name: str) -> ResponseReturnValue:
    """Push the current revision to every server again."""
    try:
        rows = run(lambda s: configs.push_again(s, name, g.user))
    except ControlError as exc:
        flash(exc.message, "error")
    else:
        flash("Pushing config revision %d again." % rows[0].project_revision, "success")
    return redirect(url_for("configs.index", name=name))


@bp.post("/_check")
@requires("manage_projects")
def check(name: str) -> ResponseReturnValue:
    """Ask every server which config it holds (shown on each file's page)."""
    back_to = request.form.get("file")
    try:
        run(lambda s: configs.check_servers(s, name, g.user))
    except ControlError as exc:
        flash(exc.message, "error")
    else:
        flash("Checking the servers; reload in a moment to see what they hold.", "success")
    if back_to:
        return redirect(url_for("configs.show", name=name, filename=back_to))
    return redirect(url_for("configs.index", name=name))


@bp.get("/<path:filename>")
@requires("view")
def show(name: str, filename: str) -> ResponseReturnValue:
    """A config file: its editor (admin, deployer) and its whole history."""
    session = get_session()
    project = projects.get_project(session, name)
    found = configs.get_file(session, project, filename)
    return render_template("config_file.html", content=found.content, comment="",
                           error=None, error_field=None,
                           **_history_context(session, project, found))


@bp.post("/<path:filename>")
@requires(configs.CONTENT_PERMISSION)
def save(name: str, filename: str) -> ResponseReturnValue:
    """Save a new version of a config file and push it; nothing saved on error."""
    data = _form_version()
    try:
        row = run(lambda s: configs.save_file(s, name, filename, data, g.user))
    except ControlError as exc:
        session = get_session()
        project = projects.get_project(session, name)
        context = _history_context(session, project, configs.get_file(session, project,
                                                                      filename))
        return render_template("config_file.html", content=data["content"],
                               comment=data["comment"], error=exc.message,
                               error_field=exc.field or "content", **context), exc.status
    return _saved(name, filename, row.version)


@bp.post("/<path:filename>/delete")
@requires("manage_projects")
def delete(name: str, filename: str) -> ResponseReturnValue:
    """Delete a config file (its history stays) and push the change."""
    try:
        run(lambda s: configs.delete_file(s, name, filename,
                                          {"comment": request.form.get("comment", "")},
                                          g.user))
    except ControlError as exc:
        flash(exc.message, "error")
        return redirect(url_for("configs.index", name=name))
    flash("Deleted %s; its history is kept." % filename, "success")
    return redirect(url_for("configs.index", name=name))


@bp.get("/<path:filename>/versions/<int:version>")
@requires("view")
def version(name: str, filename: str, version: int) -> ResponseReturnValue:
    """One version: who, when, why, where it was pushed, the log, and its diff."""
    session = get_session()
    project = projects.get_project(session, name)
    found = configs.get_file(session, project, filename, include_deleted=True)
    row = configs.get_version(session, found, version)
    previous = configs.get_version(session, found, version - 1) if version > 1 else None
    rows = side_by_side(previous.content if previous else "", row.content) \
        if _readable() else []
    return render_template("config_version.html", project=project, file=found, row=row,
                           previous=previous, rows=rows, stats=stats(rows),
                           readable=_readable(),
                           log=configs.task_log_text(session, row.task_id))


@bp.get("/<path:filename>/diff")
@requires(configs.CONTENT_PERMISSION)
def diff(name: str, filename: str) -> ResponseReturnValue:
    """Side-by-side diff between any two versions (``?a=1&b=3``)."""
    session = get_session()
    project = projects.get_project(session, name)
    found = configs.get_file(session, project, filename, include_deleted=True)
    versions = configs.history(session, found)
    a = request.args.get("a", type=int) or (versions[1].version if len(versions) > 1 else 1)
    b = request.args.get("b", type=int) or versions[0].version
    old, new = configs.get_version(session, found, a), configs.get_version(session, found, b)
    rows = side_by_side(old.content, new.content)
    return render_template("config_diff.html", project=project, file=found, old=old, new=new,
                           rows=rows, stats=stats(rows), versions=versions)
