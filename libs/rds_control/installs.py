"""Install a release on the servers where it is missing (a partial install's way forward).

An upload that failed on fewer servers than the project's failure budget
leaves the release ``installed`` but not ready everywhere, so it cannot be
activated (``rds_control.policy``). ``install_missing`` starts a build task
for the same release that builds the same commit again, checks that the tree
has exactly the manifest already verified on the other servers
(``expect_manifest_sha256``), and uploads it to the missing servers only. The
release stays where it is (``installed`` or ``old``) throughout; its missing
servers become ready as they are verified. If the build is not reproducible
the task fails saying so, and a rebuild is the way forward.
"""
from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_contracts.builder import BuildCommand, UploadPolicy
from rds_control import audit, configs, facts, policy
from rds_control.changes import release_changed
from rds_control.errors import Conflict
from rds_control.projects import get_project
from rds_control.releases import get_release
from rds_control.tasks import new_task_id, server_specs, start_task
from rds_core.lifecycle import TargetState, TaskKind
from rds_db.models import ReleaseRequest, ReleaseTarget, User


def verified_manifest(session: Session, release: ReleaseRequest) -> str:
    """The manifest the ready servers verified (one, or the release is inconsistent)."""
    hashes = {h for h in session.scalars(select(ReleaseTarget.manifest_sha256).where(
        ReleaseTarget.release_id == release.id, ReleaseTarget.state == TargetState.READY,
        ReleaseTarget.manifest_sha256.is_not(None))) if h is not None}
    if len(hashes) != 1 or not release.commit:
        raise Conflict("release %s has no single verified upload to install from (%s); "
                       "rebuild it" % (release.version, "%d manifests" % len(hashes)
                                       if hashes else "no server is ready"))
    return hashes.pop()


def install_missing(session: Session, release_id: int, user: User | None) -> ReleaseRequest:
    """Start installing the release on the servers where it is not ready."""
    release = get_release(session, release_id, lock=True)
    project = get_project(session, release.project.name, lock=True)
    policy.require(policy.install_missing(facts.release_facts(release),
                                          facts.situation(session, release, user)))
    manifest = verified_manifest(session, release)
    ready = {t.server_id for t in release.targets if t.state == TargetState.READY}
    missing = [s for s in project.servers if s.id not in ready]
    command = BuildCommand(
        task_id=new_task_id(), initiator=audit.actor_name(user), project=project.name,
        repository=project.repository, ref=release.commit, version=release.version,
        release_line=release.release_line, build_script=project.script("build"),
        deploy_path=project.deploy_path,
        servers=[spec for spec in server_specs(project) if spec.id not in ready],
        upload=UploadPolicy(concurrency=project.upload_concurrency,
                            max_failures=project.upload_max_failures),
        expect_manifest_sha256=manifest,
        **configs.build_fields(project, release.config_revision or 0))
    start_task(session, TaskKind.BUILD, project, command, release=release, user=user)
    audit.record(session, "release.installing_missing", "Installing %s %s on %s"
                 % (project.name, release.version, ", ".join(s.label for s in missing)),
                 user=user, release=release)
    release_changed(session, release)
    return release
