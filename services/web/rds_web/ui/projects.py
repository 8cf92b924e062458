"""Projects: list, show, create, edit settings, and one editor per script."""
import re
from collections.abc import Mapping

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from rds_control import channels, controls, families, lines, projects, releases
from rds_control.changes import last_change_id
from rds_control.errors import ControlError, InvalidInput
from rds_core.notices import TITLES
from rds_core.scripts import SCRIPTS
from rds_db.models import Project, ReleaseRequest
from rds_web.db import get_session, run
from rds_web.ui import gc
from rds_web.ui.common import requires

bp = Blueprint("projects", __name__, url_prefix="/projects")

#: The settings form: (field, label, help). Numbers are checked by the control plane.
SETTINGS = (
    ("repository", "Git repository", "URL or path the agents clone from"),
    ("default_ref", "Default ref", "branch, tag or commit built when a release names none"),
    ("deploy_path", "Deploy path", "directory on the servers, relative to the login's home "
                                   "or absolute; holds releases/, shared/ and current"),
    ("agent_pool", "Agent pool", "which agents build and deploy this project"),
    ("keep_releases", "Releases to keep", "installed versions kept on the servers (2-1000)"),
    ("post_migration_delay_days", "Post-migration delay (days)",
     "how long a release must be live before its post migrations run"),
    ("upload_concurrency", "Upload concurrency", "servers uploaded to in parallel"),
    ("upload_max_failures", "Upload failure budget",
     "servers that may fail the upload before the release fails"),
)
LIST_FIELDS = ("shared_files", "shared_dirs")
_SERVER = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>\[[^\]\s]+\]|[^:\s\[\]]+)(?::(?P<port>\S+))?$")


def parse_servers(text: str) -> list[dict[str, str]]:
    """``user@host[:port]`` per line into server dicts; InvalidInput names the line."""
    servers: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SERVER.match(line)
        if match is None:
            raise InvalidInput("line %d: %r is not user@host or user@host:port"
                               % (number, line), field="servers")
        server = {"host": match["host"].strip("[]"), "user": match["user"]}
        if match["port"] is not None:
            server["port"] = match["port"]
        servers.append(server)
    return servers


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def form_data(form: Mapping[str, str], creating: bool) -> dict[str, object]:
    """The control-plane input for the posted settings form."""
    data: dict[str, object] = {name: (form.get(name) or "").strip() for name, _, _ in SETTINGS}
    data["servers"] = parse_servers(form.get("servers", ""))
    for name in LIST_FIELDS:
        data[name] = _lines(form.get(name, ""))
    data["migration_server"] = (form.get("migration_server") or "").strip() or None
    if creating:
        data["name"] = (form.get("name") or "").strip()
        build = (form.get("script_build") or "").replace("\r\n", "\n")
        if build.strip():
            data["scripts"] = {"build": build}
    return data


def form_values(project: Project) -> dict[str, object]:
    """The settings form filled from a saved project."""
    values: dict[str, object] = {name: getattr(project, name) for name, _, _ in SETTINGS}
    values["servers"] = "\n".join("%s@%s:%d" % (s.user, "[%s]" % s.host if ":" in s.host
                                                  else s.host, s.port)
                                  for s in project.servers)
    for name in LIST_FIELDS:
        values[name] = "\n".join(getattr(project, name) or [])
    values["name"] = project.name
    values["migration_server"] = project.migration_server or ""
    return values


def field_of(exc: ControlError) -> str | None:
    """The form field a control-plane error belongs to (``servers.0.host`` → ``servers``)."""
    if not exc.field:
        return None
    head = exc.field.split(".", 1)[0]
    return "script_build" if head == "scripts" else head


def _render_form(values: Mapping[str, object], errors: dict[str, str], creating: bool,
                 project: Project | None = None, error: str | None = None,
                 status: int = 200) -> tuple[str, int]:
    return render_template("project_form.html", values=values, errors=errors,
                           creating=creating, project=project, settings=SETTINGS,
                           form_error=error), status


def _refused_form(values: Mapping[str, object], exc: ControlError, creating: bool,
                  project: Project | None = None) -> tuple[str, int]:
    """The form again with the refusal: next to its field, or above the form."""
    field = field_of(exc)
    return _render_form(values, {field: exc.message} if field else {}, creating,
                        project=project, error=None if field else exc.message,
                        status=exc.status)


@bp.get("")
@requires("view")
def index() -> ResponseReturnValue:
    """List every project with its servers, pool and live version."""
    session = get_session()
    rows = [(p, releases.live_release(session, p.id)) for p in projects.list_projects(session)]
    return render_template("projects.html", rows=rows, scripts=SCRIPTS)


@bp.get("/<name>")
@requires("view")
def show(name: str) -> ResponseReturnValue:
    """Show a project's settings, servers, scripts and latest releases (its drift banners
    and servers table live)."""
    session = get_session()
    after = last_change_id(session)  # read first: the stream resumes from here
    project = projects.get_project(session, name)
    latest = session.scalars(select(ReleaseRequest).where(ReleaseRequest.project_id == project.id)
                             .order_by(ReleaseRequest.created_at.desc()).limit(10)).all()
    return render_template("project.html", project=project, settings=SETTINGS,
                           live=releases.live_release(session, project.id), latest=latest,
                           scripts=SCRIPTS, plan=gc.plan_for(session, project),
                           bans=controls.active_bans(session, project.name),
                           lines=lines.project_lines(session, project),
                           channels=channels.list_channels(session, project.id),
                           family=families.family_summary(session, project),
                           project_names=[p.name for p in projects.list_projects(session)],
                           notice_events=TITLES, after=after,
                           drifting=gc.drifting(session, project.name))


@bp.route("/_new", methods=["GET", "POST"])
@requires("manage_projects")
def create() -> ResponseReturnValue:
    """Show the new-project form; create the project (nothing is saved on error)."""
    if request.method == "GET":
        defaults = {"default_ref": "main", "agent_pool": "default", "keep_releases": 5,
                    "post_migration_delay_days": 7, "upload_concurrency": 8,
                    "upload_max_failures": 0}
        return _render_form(defaults, {}, creating=True)
    values = request.form.to_dict()
    try:
        data = form_data(request.form, creating=True)
        name = run(lambda s: projects.create_project(s, data, g.user).name)
    except ControlError as exc:
        return _refused_form(values, exc, creating=True)
    flash("Created project %s." % name, "success")
    return redirect(url_for("projects.show", name=name))


@bp.route("/<name>/edit", methods=["GET", "POST"])
@requires("manage_projects")
def edit(name: str) -> ResponseReturnValue:
    """Show the settings form; save it (nothing is saved on error)."""
    session = get_session()
    project = projects.get_project(session, name)
    if request.method == "GET":
        return _render_form(form_values(project), {}, creating=False, project=project)
    values = request.form.to_dict()
    values["name"] = name
    try:
        data = form_data(request.form, creating=False)
        run(lambda s: projects.update_project(s, projects.get_project(s, name, lock=True),
                                              data, g.user).name)
    except ControlError as exc:
        return _refused_form(values, exc, creating=False, project=project)
    flash("Saved project %s." % name, "success")
    return redirect(url_for("projects.show", name=name))


@bp.route("/<name>/scripts/<kind>", methods=["GET", "POST"])
@requires("manage_projects")
def script(name: str, kind: str) -> ResponseReturnValue:
    """Edit one script of a project, next to the environment it receives."""
    if kind not in SCRIPTS:
        abort(404)
    session = get_session()
    project = projects.get_project(session, name)
    saved = {s.kind: s.body for s in project.scripts}.get(kind, "")
    context = {"project": project, "kind": SCRIPTS[kind], "scripts": SCRIPTS}
    if request.method == "GET":
        return render_template("script.html", body=saved or "#!/bin/bash\nset -euo pipefail\n",
                               error=None, **context)
    body = (request.form.get("body") or "").replace("\r\n", "\n")
    try:
        run(lambda s: projects.update_project(s, projects.get_project(s, name, lock=True),
                                              {"scripts": {kind: body}}, g.user).name)
    except ControlError as exc:
        return render_template("script.html", body=body, error=exc.message,
                               **context), exc.status
    flash("Saved the %s script of %s." % (SCRIPTS[kind].title.lower(), name), "success")
    return redirect(url_for("projects.show", name=name))
