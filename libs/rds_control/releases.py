"""Release requests: create, rebuild, activate (and roll back), revert, cancel, delete."""
import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_contracts.activator import ActivateCommand
from rds_contracts.builder import BuildCommand, UploadPolicy
from rds_contracts.killer import CancelCommand
from rds_control import audit, configs, facts, families, lines, outbox, policy
from rds_control.changes import release_changed
from rds_control.errors import Conflict, NotFound
from rds_control.inputs import ReleaseInput, parse
from rds_control.projects import get_project
from rds_control.tasks import active_task, finish_task, new_task_id, server_specs, start_task
from rds_core import versions
from rds_core.lifecycle import Lane, ReleaseStatus, TaskKind, TaskStatus
from rds_db.models import DeploymentSwitch, Project, ProjectLineCounter, ReleaseRequest, User
from rds_db.models.base import utcnow

S = ReleaseStatus


def get_release(session: Session, release_id: int, lock: bool = False) -> ReleaseRequest:
    query = select(ReleaseRequest).where(ReleaseRequest.id == release_id)
    if lock:
        query = query.with_for_update()
    release = session.scalars(query).one_or_none()
    if release is None:
        raise NotFound("no release with id %s" % release_id)
    return release


def live_release(session: Session, project_id: int) -> ReleaseRequest | None:
    """The release that is live (``used``) for a project, or None."""
    return session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project_id,
        ReleaseRequest.status == S.USED)).first()


def latest_release(session: Session, project_id: int) -> ReleaseRequest | None:
    return session.scalars(
        select(ReleaseRequest).where(ReleaseRequest.project_id == project_id,
                                     ReleaseRequest.deleted_at.is_(None))
        .order_by(ReleaseRequest.version_key.desc()).limit(1)).first()


def find_release_by_version(session: Session, project_id: int,
                            version: str | None) -> ReleaseRequest | None:
    return session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project_id, ReleaseRequest.version == version)).first()


def deployment_switch(session: Session) -> DeploymentSwitch | None:
    return session.get(DeploymentSwitch, 1)


def _allocate_version(session: Session, project: Project, line: int) -> str:
    counter = session.scalars(select(ProjectLineCounter).where(
        ProjectLineCounter.project_id == project.id, ProjectLineCounter.line == line)
        .with_for_update()).one_or_none()
    if counter is None:
        counter = ProjectLineCounter(project_id=project.id, line=line, counter=0)
        session.add(counter)
    version, counter.counter, project.build_counter = versions.next_version(
        line, counter.counter, project.build_counter)
    return version


def _build_command(project: Project, release: ReleaseRequest,
                   user: User | None) -> BuildCommand:
    return BuildCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        repository=project.repository, ref=release.ref, version=release.version,
        release_line=release.release_line, build_script=project.script("build"),
        deploy_path=project.deploy_path, servers=server_specs(project),
        upload=UploadPolicy(concurrency=project.upload_concurrency,
                            max_failures=project.upload_max_failures),
        migrations_script=project.script("migrations"), **configs.build_fields(project))


def create_release(session: Session, project_name: str, data: object, user: User | None,
                   parent: ReleaseRequest | None = None) -> ReleaseRequest:
    """Allocate the next version of a project and start building it (and its children's:
    ``rds_control.families``; ``parent``: the parent's release this one is made with)."""
    values = parse(ReleaseInput, data)
    project = get_project(session, project_name, lock=True)
    line = lines.release_line_for(session, project, values.release_line)
    policy.require(policy.new_release(facts.project_situation(session, project, user), line))
    version = _allocate_version(session, project, line)
    release = ReleaseRequest(
        project=project, version=version, version_key=list(versions.version_key(version)),
        release_line=line, status=S.NEW, user_id=user.id if user else None,
        comment=values.comment, ref=values.ref or project.default_ref,
        config_revision=project.config_revision, build_attempts=1,
        parent_id=parent.id if parent is not None else None)
    session.add(release)
    session.flush()
    start_task(session, TaskKind.BUILD, project, _build_command(project, release, user),
               release=release, user=user)
    audit.record(session, "release.created", "Created %s %s from %s: %s"
                 % (project.name, version, release.ref, values.comment or "(no comment)"),
                 user=user, release=release)
    release_changed(session, release)
    families.create_children(session, release, values.comment, user)
    return release


def rebuild_release(session: Session, release_id: int, user: User | None,
                    automatic: bool = False) -> ReleaseRequest:
    """Build the latest release again under the same version (``automatic``: a retry)."""
    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    policy.require(policy.rebuild(facts.release_facts(release),
                                  facts.situation(session, release, user)))
    release.status = S.NEW
    release.last_error = None
    release.commit = None
    release.build_started_at = release.built_at = release.installed_at = None
    release.destroyed_at = None  # it is uploaded again
    release.build_attempts = release.build_attempts + 1 if automatic else 1
    release.config_revision = project.config_revision
    release.targets = []
    session.flush()
    start_task(session, TaskKind.BUILD, project, _build_command(project, release, user),
               release=release, user=user)
    audit.record(session, "release.rebuilt", "%s %s %s (attempt %d)"
                 % ("Automatically rebuilding" if automatic else "Rebuilding",
                    project.name, release.version, release.build_attempts),
                 user=user, release=release)
    release_changed(session, release)
    return release


def activate_release(session: Session, release_id: int, user: User | None,
                     override_reason: str | None = None, cascade: bool = True) -> ReleaseRequest:
    """Switch a release live on every server (activating an older one is a rollback).

    ``override_reason``: an admin's written reason to go below the rollback
    floor (audited); refused for anyone else, and when not needed.
    ``cascade``: with the child releases made with it (``rds_control.families``).
    """
    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    situation = facts.situation(session, release, user)
    override = _floor_override(session, release, situation, override_reason, user)
    policy.require(policy.activate(facts.release_facts(release), override or situation))
    children = families.check_children(session, release, user,
                                       policy.Action.ACTIVATE) if cascade else []
    live = live_release(session, project.id)
    command = ActivateCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        version=release.version, previous_version=live.version if live else None,
        deploy_path=project.deploy_path, servers=server_specs(project),
        use_script=project.script("use"), post_use_script=project.script("post_use"),
        release_line=release.release_line, **configs.cron_fields(release, live))
    start_task(session, TaskKind.ACTIVATE, project, command, release=release, user=user)
    release.status_before_use = release.status
    release.status = S.USING
    release.previous_version = live.version if live else None
    release.last_error = None
    rollback = live is not None and (
        versions.version_key(release.version) < versions.version_key(live.version))
    kind = "rollback" if rollback else "activation"
    audit.record(session, "release.activating", "Started %s of %s %s (live: %s)"
                 % (kind, project.name, release.version, live.version if live else "none"),
                 user=user, release=release)
    release_changed(session, release)
    families.activate_children(session, release, user, children)
    return release


def _floor_override(session: Session, release: ReleaseRequest, situation: policy.Situation,
                    reason: str | None, user: User | None) -> policy.Situation | None:
    """The Situation with an admin's floor override, audited; None without a reason."""
    if reason is None:
        return None
    policy.require(policy.floor_override(situation, reason))
    floor = situation.project.floor
    if floor is None or not policy.is_below_floor(release.version, floor):
        raise Conflict("%s is not below the rollback floor of %s; nothing to override"
                       % (release.version, release.project.name), field="override_reason")
    audit.record(session, "release.floor_override",
                 "Overrode the rollback floor %s (post migration %s) to activate %s %s: %s"
                 % (floor.version, ", ".join(floor.migrations), release.project.name,
                    release.version, reason.strip()),
                 user=user, release=release, reason=reason.strip(), floor=floor.version)
    return dataclasses.replace(situation, floor_override=reason.strip())


def revert_project(session: Session, project_name: str, user: User | None,
                   override_reason: str | None = None) -> ReleaseRequest:
    """Activate the version that was live before the current one."""
    project = get_project(session, project_name)
    live = live_release(session, project.id)
    if live is None:
        raise Conflict("project %s has no live release to revert" % project.name)
    situation = facts.situation(session, live, user)
    if override_reason is not None:
        situation = dataclasses.replace(situation, floor_override=override_reason)
    policy.require(policy.revert(facts.release_facts(live), situation))
    previous = find_release_by_version(session, project.id, live.previous_version)
    if previous is None:
        raise Conflict("the release live before %s %s (%s) no longer exists"
                       % (project.name, live.version, live.previous_version))
    return activate_release(session, previous.id, user, override_reason=override_reason)


def cancel_release(session: Session, release_id: int, user: User | None) -> ReleaseRequest:
    """Cancel a release whose build has not finished."""
    release = get_release(session, release_id, lock=True)
    policy.require(policy.cancel(facts.release_facts(release),
                                 facts.situation(session, release, user)))
    task = active_task(session, release.project_id, Lane.BUILD)
    if task is None or task.release_id != release.id:
        raise Conflict("release %s has no running build" % release.version)
    command = CancelCommand(task_id=task.id, initiator=audit.actor_name(user))
    outbox.enqueue(session, command, task.pool, broadcast=True)
    if task.status == TaskStatus.QUEUED:
        finish_task(session, task, TaskStatus.CANCELLED, error="cancelled before it started")
        release.status = S.CANCELLED
    else:
        task.status = TaskStatus.CANCELLING
        task.cancel_requested_at = utcnow()
        release.status = S.CANCELLING
    audit.record(session, "release.cancelling", "Cancelled %s %s"
                 % (release.project.name, release.version), user=user, release=release)
    release_changed(session, release, task_id=task.id)
    families.cancel_children(session, release, user)
    return release


def delete_release(session: Session, release_id: int, user: User | None) -> ReleaseRequest:
    """Soft-delete a release that is not live and not in progress (GC removes it later)."""
    release = get_release(session, release_id, lock=True)
    policy.require(policy.delete(facts.release_facts(release),
                                 facts.situation(session, release, user)))
    release.deleted_at = utcnow()
    audit.record(session, "release.deleted", "Deleted %s %s"
                 % (release.project.name, release.version), user=user, release=release)
    release_changed(session, release)
    return release


def set_pinned(session: Session, release_id: int, user: User | None,
               pinned: bool = True) -> ReleaseRequest:
    """Pin a release (retention never removes it) or unpin it again."""
    release = get_release(session, release_id, lock=True)
    rule = policy.pin if pinned else policy.unpin
    policy.require(rule(facts.release_facts(release), facts.situation(session, release, user)))
    release.pinned = pinned
    audit.record(session, "release.pinned" if pinned else "release.unpinned", "%s %s %s"
                 % ("Pinned" if pinned else "Unpinned", release.project.name, release.version),
                 user=user, release=release)
    release_changed(session, release)
    return release
