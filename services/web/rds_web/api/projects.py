"""Projects: list, show, create, update, revert."""
from flask import Response, g
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rds_control import projects, releases, removal
from rds_control.retention import RetentionSettings
from rds_core.lifecycle import ReleaseStatus
from rds_db.models import Project, ReleaseRequest
from rds_web.api import bp, json_body
from rds_web.api.schemas import (
    ProjectOut,
    RetentionPlanOut,
    TaskStarted,
    dump,
    projects_json,
    release_body,
)
from rds_web.auth import require
from rds_web.db import get_session, run


@bp.get("/projects")
@require("view")
def list_projects() -> ResponseReturnValue:
    """List every project with its servers and live version."""
    session = get_session()
    rows = list(session.scalars(select(Project).options(
        selectinload(Project.servers), selectinload(Project.scripts)).order_by(Project.name)))
    live: dict[int, str] = dict(session.execute(
        select(ReleaseRequest.project_id, ReleaseRequest.version).where(
            ReleaseRequest.project_id.in_([p.id for p in rows]),
            ReleaseRequest.status == ReleaseStatus.USED).order_by(ReleaseRequest.id)).all())
    return Response(projects_json(rows, live), mimetype="application/json")


@bp.get("/projects/<name>")
@require("view")
def show_project(name: str) -> ResponseReturnValue:
    """Show one project. :raise 404: unknown project."""
    session = get_session()
    project = projects.get_project(session, name)
    return dump(ProjectOut.of(project, releases.live_release(session, project.id)))


@bp.post("/projects")
@require("manage_projects")
def create_project() -> ResponseReturnValue:
    """Create a project. :raise 400: invalid field; 409: name taken."""
    data = json_body()
    def create(session: Session) -> dict[str, object]:
        return dump(ProjectOut.of(projects.create_project(session, data, g.user)))
    return run(create), 201


@bp.patch("/projects/<name>")
@require("manage_projects")
def update_project(name: str) -> ResponseReturnValue:
    """Change some fields of a project (the name is fixed)."""
    data = json_body()
    def update(session: Session) -> dict[str, object]:
        project = projects.get_project(session, name, lock=True)
        project = projects.update_project(session, project, data, g.user)
        return dump(ProjectOut.of(project, releases.live_release(session, project.id)))
    return run(update)


@bp.post("/projects/<name>/revert")
@require("deploy")
def revert_project(name: str) -> ResponseReturnValue:
    """Activate the version that was live before the current one.

    :raise 409: nothing to revert to. Body (optional): ``{"override_reason": "..."}``.
    """
    from rds_web.api.migrations import override_reason

    reason = override_reason()

    def revert(session: Session) -> dict[str, object]:
        return release_body(session, releases.revert_project(
            session, name, g.user, override_reason=reason), g.user)
    return run(revert), 202


@bp.get("/projects/<name>/retention")
@require("view")
def retention_plan(name: str) -> ResponseReturnValue:
    """Dry run of retention for a project. :raise 404: unknown project."""
    session = get_session()
    plan = removal.project_plan(session, projects.get_project(session, name),
                                RetentionSettings.from_settings())
    return dump(RetentionPlanOut(**plan.to_wire()))


@bp.post("/projects/<name>/check-servers")
@require("deploy")
def check_servers(name: str) -> ResponseReturnValue:
    """Read current and releases/ of every server of a project now (drift).

    :raise 404: unknown project; 409: it has no servers.
    """
    task_id = run(lambda session: removal.check_servers(session, name, g.user).id)
    return dump(TaskStarted(task_id=task_id)), 202
