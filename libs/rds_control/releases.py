"""Release requests: create, rebuild, activate (and roll back), revert, cancel, delete."""
from sqlalchemy import select

from rds_contracts.activator import ActivateCommand
from rds_contracts.builder import BuildCommand, UploadPolicy
from rds_contracts.killer import CancelCommand
from rds_control import audit, outbox
from rds_control.changes import release_changed
from rds_control.errors import Conflict, NotFound, Refused
from rds_control.inputs import ReleaseInput, parse
from rds_control.projects import get_project
from rds_control.tasks import active_task, finish_task, new_task_id, server_specs, start_task
from rds_core import versions
from rds_core.lifecycle import ACTIVATABLE, IN_PROGRESS, REBUILDABLE, ReleaseStatus, TaskStatus
from rds_db.models import (
    DeploymentSwitch,
    ProjectLineCounter,
    ReleaseBan,
    ReleaseLine,
    ReleaseRequest,
    ReleaseTarget,
)
from rds_db.models.base import utcnow

S = ReleaseStatus


def get_release(session, release_id, lock=False):
    query = select(ReleaseRequest).where(ReleaseRequest.id == release_id)
    if lock:
        query = query.with_for_update()
    release = session.scalars(query).one_or_none()
    if release is None:
        raise NotFound("no release with id %s" % release_id)
    return release


def live_release(session, project_id):
    """The release that is live (``used``) for a project, or None."""
    return session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project_id,
        ReleaseRequest.status == S.USED.value)).first()


def latest_release(session, project_id):
    return session.scalars(
        select(ReleaseRequest).where(ReleaseRequest.project_id == project_id,
                                     ReleaseRequest.deleted_at.is_(None))
        .order_by(ReleaseRequest.version_key.desc()).limit(1)).first()


def find_release_by_version(session, project_id, version):
    return session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project_id, ReleaseRequest.version == version)).first()


def deployment_switch(session):
    return session.get(DeploymentSwitch, 1)


def _check_deploys_allowed(session, project, line):
    switch = deployment_switch(session)
    if switch is not None and not switch.enabled:
        raise Refused("deployment is switched off: %s" % (switch.reason or "no reason given"))
    now = utcnow()
    bans = session.scalars(select(ReleaseBan).where(
        ReleaseBan.project_id == project.id, ReleaseBan.release_line == line,
        ReleaseBan.lifted_at.is_(None))).all()
    active = [b for b in bans if b.expires_at is None or b.expires_at > now]
    if active:
        raise Refused("releases of %s on line %d are banned: %s"
                      % (project.name, line, "; ".join(b.comment for b in active)))


def _default_line(session):
    line = session.scalars(select(ReleaseLine.number).order_by(ReleaseLine.number)).first()
    if line is None:
        raise Conflict("no release line exists; run `rds db upgrade`")
    return line


def _allocate_version(session, project, line):
    counter = session.scalars(select(ProjectLineCounter).where(
        ProjectLineCounter.project_id == project.id, ProjectLineCounter.line == line)
        .with_for_update()).one_or_none()
    if counter is None:
        counter = ProjectLineCounter(project_id=project.id, line=line, counter=0)
        session.add(counter)
    version, counter.counter, project.build_counter = versions.next_version(
        line, counter.counter, project.build_counter)
    return version


def _check_buildable(project):
    if not project.servers:
        raise Conflict("project %s has no servers to deploy to" % project.name)
    if project.script("build") is None:
        raise Conflict("project %s has no build script" % project.name)


def _build_command(project, release, user):
    return BuildCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        repository=project.repository, ref=release.ref, version=release.version,
        release_line=release.release_line, build_script=project.script("build"),
        deploy_path=project.deploy_path, servers=server_specs(project),
        upload=UploadPolicy(concurrency=project.upload_concurrency,
                            max_failures=project.upload_max_failures))


def create_release(session, project_name, data, user):
    """Allocate the next version of a project and start building it."""
    values = parse(ReleaseInput, data)
    project = get_project(session, project_name, lock=True)
    line = values.release_line if values.release_line is not None else _default_line(session)
    if session.scalar(select(ReleaseLine.id).where(ReleaseLine.number == line)) is None:
        raise Conflict("release line %d does not exist" % line, field="release_line")
    _check_deploys_allowed(session, project, line)
    _check_buildable(project)
    version = _allocate_version(session, project, line)
    release = ReleaseRequest(
        project=project, version=version, version_key=list(versions.version_key(version)),
        release_line=line, status=S.NEW.value, user_id=user.id if user else None,
        comment=values.comment, ref=values.ref or project.default_ref,
        config_revision=project.config_revision, build_attempts=1)
    session.add(release)
    session.flush()
    start_task(session, "build", project, _build_command(project, release, user),
               release=release, user=user)
    audit.record(session, "release.created", "Created %s %s from %s: %s"
                 % (project.name, version, release.ref, values.comment or "(no comment)"),
                 user=user, release=release)
    release_changed(session, release)
    return release


def rebuild_release(session, release_id, user, automatic=False):
    """Build the latest release again under the same version."""
    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    if release.deleted_at is not None:
        raise Conflict("release %s was deleted" % release.version)
    if S(release.status) not in REBUILDABLE or release.activated_at is not None:
        raise Conflict("only a failed, cancelled or never-activated installed release can be "
                       "rebuilt; %s is %s" % (release.version, release.status))
    latest = latest_release(session, project.id)
    if latest is None or latest.id != release.id:
        raise Conflict("only the latest release of %s can be rebuilt; %s is newer"
                       % (project.name, latest.version if latest else "?"))
    if not automatic:
        _check_deploys_allowed(session, project, release.release_line)
    _check_buildable(project)
    release.status = S.NEW.value
    release.last_error = None
    release.commit = None
    release.build_started_at = release.built_at = release.installed_at = None
    release.build_attempts = release.build_attempts + 1 if automatic else 1
    release.targets = []
    session.flush()
    start_task(session, "build", project, _build_command(project, release, user),
               release=release, user=user)
    audit.record(session, "release.rebuilt", "%s %s %s (attempt %d)"
                 % ("Automatically rebuilding" if automatic else "Rebuilding",
                    project.name, release.version, release.build_attempts),
                 user=user, release=release)
    release_changed(session, release)
    return release


def _targets_not_ready(session, release, project):
    ready = {t.server_id for t in session.scalars(select(ReleaseTarget).where(
        ReleaseTarget.release_id == release.id, ReleaseTarget.state == "ready"))}
    return [s.label for s in project.servers if s.id not in ready]


def activate_release(session, release_id, user):
    """Switch a release live on every server (activating an older one is a rollback)."""
    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    if release.deleted_at is not None or release.destroyed_at is not None:
        raise Conflict("release %s was %s" % (
            release.version, "removed from the servers" if release.destroyed_at else "deleted"))
    if S(release.status) not in ACTIVATABLE:
        raise Conflict("only installed or old releases can be activated; %s is %s"
                       % (release.version, release.status))
    live = live_release(session, project.id)
    is_rollback_to_previous = live is not None and live.previous_version == release.version
    switch = deployment_switch(session)
    if switch is not None and not switch.enabled and not is_rollback_to_previous:
        raise Refused("deployment is switched off: %s (only a rollback to the previous "
                      "version is allowed)" % (switch.reason or "no reason given"))
    missing = _targets_not_ready(session, release, project)
    if missing:
        raise Conflict("release %s is not ready on %s; rebuild it before activating"
                       % (release.version, ", ".join(missing)))
    command = ActivateCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        version=release.version, previous_version=live.version if live else None,
        deploy_path=project.deploy_path, servers=server_specs(project),
        use_script=project.script("use"), post_use_script=project.script("post_use"))
    start_task(session, "activate", project, command, release=release, user=user)
    release.status_before_use = release.status
    release.status = S.USING.value
    release.previous_version = live.version if live else None
    release.last_error = None
    rollback = live is not None and (
        versions.version_key(release.version) < versions.version_key(live.version))
    kind = "rollback" if rollback else "activation"
    audit.record(session, "release.activating", "Started %s of %s %s (live: %s)"
                 % (kind, project.name, release.version, live.version if live else "none"),
                 user=user, release=release)
    release_changed(session, release)
    return release


def revert_project(session, project_name, user):
    """Activate the version that was live before the current one."""
    project = get_project(session, project_name)
    live = live_release(session, project.id)
    if live is None:
        raise Conflict("project %s has no live release to revert" % project.name)
    if not live.previous_version:
        raise Conflict("%s %s has no previous version to revert to"
                       % (project.name, live.version))
    previous = find_release_by_version(session, project.id, live.previous_version)
    if previous is None:
        raise Conflict("previous version %s no longer exists" % live.previous_version)
    return activate_release(session, previous.id, user)


def cancel_release(session, release_id, user):
    """Cancel a release whose build has not finished."""
    release = get_release(session, release_id, lock=True)
    if S(release.status) not in IN_PROGRESS:
        raise Conflict("only a release that is building can be cancelled; %s is %s"
                       % (release.version, release.status))
    task = active_task(session, release.project_id, "build")
    if task is None or task.release_id != release.id:
        raise Conflict("release %s has no running build" % release.version)
    command = CancelCommand(task_id=task.id, initiator=audit.actor_name(user))
    outbox.enqueue(session, command, task.pool, broadcast=True)
    if TaskStatus(task.status) == TaskStatus.QUEUED:
        finish_task(session, task, TaskStatus.CANCELLED, error="cancelled before it started")
        release.status = S.CANCELLED.value
    else:
        task.status = TaskStatus.CANCELLING.value
        task.cancel_requested_at = utcnow()
        release.status = S.CANCELLING.value
    audit.record(session, "release.cancelling", "Cancelled %s %s"
                 % (release.project.name, release.version), user=user, release=release)
    release_changed(session, release, task_id=task.id)
    return release


def delete_release(session, release_id, user):
    """Soft-delete a release that is not live and not in progress (GC removes it later)."""
    release = get_release(session, release_id, lock=True)
    if release.deleted_at is not None:
        raise Conflict("release %s is already deleted" % release.version)
    if S(release.status) in IN_PROGRESS | {S.USING, S.USED, S.CANCELLING}:
        raise Conflict("release %s is %s; cancel it or activate another version first"
                       % (release.version, release.status))
    release.deleted_at = utcnow()
    audit.record(session, "release.deleted", "Deleted %s %s"
                 % (release.project.name, release.version), user=user, release=release)
    release_changed(session, release)
    return release
