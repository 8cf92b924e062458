"""Projects: create, update, look up."""
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_control import audit
from rds_control.errors import Conflict, NotFound
from rds_control.inputs import ProjectInput, ServerInput, parse
from rds_db.models import Project, ProjectScript, Server, User

SIMPLE_FIELDS = ("repository", "default_ref", "deploy_path", "agent_pool", "keep_releases",
                 "post_migration_delay_days", "upload_concurrency", "upload_max_failures",
                 "shared_files", "shared_dirs", "migration_server")


def get_project(session: Session, name: str, lock: bool = False) -> Project:
    query = select(Project).where(Project.name == name)
    if lock:
        query = query.with_for_update()
    project = session.scalars(query).one_or_none()
    if project is None:
        raise NotFound("no project named %r" % name)
    return project


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def create_project(session: Session, data: object, user: User | None) -> Project:
    """Create a project from API/form data; raises InvalidInput or Conflict."""
    values = parse(ProjectInput, data)
    if session.scalars(select(Project.id).where(Project.name == values.name)).first():
        raise Conflict("a project named %r already exists" % values.name, field="name")
    project = Project(name=values.name, **{f: getattr(values, f) for f in SIMPLE_FIELDS})
    session.add(project)
    _set_servers(project, values.servers)
    _set_scripts(project, values.scripts)
    session.flush()
    audit.record(session, "project.created", "Created project %s" % project.name,
                 user=user, project=project)
    return project


def update_project(session: Session, project: Project, data: Mapping[str, Any],
                   user: User | None) -> Project:
    """Replace the fields given in ``data`` (the name cannot change)."""
    merged = project_to_input(project)
    merged.update(data)
    values = parse(ProjectInput, merged)
    if values.name != project.name:
        raise Conflict("a project cannot be renamed", field="name")
    changed = [f for f in SIMPLE_FIELDS if getattr(project, f) != getattr(values, f)]
    for field in changed:
        setattr(project, field, getattr(values, field))
    if "servers" in data:
        _set_servers(project, values.servers)
        changed.append("servers")
    if "scripts" in data:
        _set_scripts(project, values.scripts)
        changed.append("scripts")
    session.flush()
    audit.record(session, "project.updated", "Updated project %s (%s)"
                 % (project.name, ", ".join(changed) or "no change"),
                 user=user, project=project, fields=changed)
    return project


def _set_servers(project: Project, servers: Sequence[ServerInput]) -> None:
    existing = {(s.host, s.port, s.user): s for s in project.servers}
    wanted = []
    for position, server in enumerate(servers):
        key = (server.host, server.port, server.user)
        row = existing.pop(key, None) or Server(host=server.host, port=server.port,
                                                user=server.user)
        row.position = position
        wanted.append(row)
    project.servers = wanted


def _set_scripts(project: Project, scripts: Mapping[str, str]) -> None:
    existing = {s.kind: s for s in project.scripts}
    for kind, body in scripts.items():
        if kind in existing:
            existing[kind].body = body
        else:
            project.scripts.append(ProjectScript(kind=kind, body=body))


def project_to_input(project: Project) -> dict[str, Any]:
    data = {f: getattr(project, f) for f in SIMPLE_FIELDS}
    data["name"] = project.name
    data["servers"] = [{"host": s.host, "port": s.port, "user": s.user}
                       for s in project.servers]
    data["scripts"] = {s.kind: s.body for s in project.scripts}
    return data
