"""Parent/child projects: linked projects that release, install and go live together.

A project may have child projects (``project_links``; one parent per project,
no cycles: ``policy.link_projects``). Then, from the same request:

* **release**: creating a release of the parent creates one of every child
  (``parent_id`` points at the parent's release), each on its own current
  line and default ref; a ban or busy lane of any child refuses the whole
  request (nothing is created);
* **install**: the parent is ``installed`` only once its own build finished
  *and* every child release is installed; until then it stays
  ``installing``. A child that fails for good fails the parent (with the
  reason);
* **activate / revert**: activating the parent's release activates the
  child releases created with it (a revert of the parent activates the
  previous parent release, hence the children's releases made with that
  one); every task started together carries the parent's task id
  (``tasks.family_task_id``). The rules of every member are checked first
  (``policy.family``): any refusal refuses all;
* **all or nothing**: if any member's activation fails, every member that
  already switched is switched back to the version live before (a rollback,
  which bans and the switch never block), and a member still switching is
  switched back as soon as it finishes. The decisions take the lock of the
  root release, so two ingest workers cannot both miss each other;
* **cancel**: cancelling the parent's build cancels the children's builds.

The control plane (``releases``) and ingest call the hooks below; the
rules themselves live in ``policy``.
"""
import logging
from typing import Annotated

from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_control import audit, facts, policy
from rds_control.changes import record_change, release_changed
from rds_control.errors import ControlError, InvalidInput
from rds_control.inputs import ONE_LINE, STRIP, Input, limits, parse
from rds_control.projects import get_project
from rds_core.lifecycle import ReleaseStatus, TaskKind, TaskStatus, can_transition
from rds_db.models import Project, ProjectLink, ReleaseRequest, Task, User
from rds_db.models.base import utcnow

log = logging.getLogger(__name__)
S = ReleaseStatus


# -- links ---------------------------------------------------------------------

def parent_of(session: Session, project_id: int) -> Project | None:
    return session.scalar(select(Project).join(ProjectLink, ProjectLink.parent_id == Project.id)
                          .where(ProjectLink.child_id == project_id))


def children_of(session: Session, project_id: int) -> list[Project]:
    return list(session.scalars(
        select(Project).join(ProjectLink, ProjectLink.child_id == Project.id)
        .where(ProjectLink.parent_id == project_id).order_by(Project.name)))


def ancestors(session: Session, project: Project) -> list[str]:
    """Names of the project's parent, its parent's parent, …"""
    names, seen, current = [], {project.id}, parent_of(session, project.id)
    while current is not None and current.id not in seen:
        names.append(current.name)
        seen.add(current.id)
        current = parent_of(session, current.id)
    return names


class ChildInput(Input):
    #: The project to make a child.
    child: Annotated[str, STRIP, ONE_LINE, limits(63)]


def link(session: Session, parent_name: str, data: object, user: User | None) -> Project:
    """Make ``data["child"]`` a child project of ``parent_name``."""
    values = parse(ChildInput, data)
    parent = get_project(session, parent_name, lock=True)
    try:
        child = get_project(session, values.child, lock=True)
    except ControlError as exc:
        raise InvalidInput("child: %s" % exc.message, field="child") from None
    current = parent_of(session, child.id)
    denial = policy.link_projects(parent.name, child.name, ancestors(session, parent),
                                  current.name if current is not None else None)
    if denial is not None:
        raise InvalidInput("child: %s" % denial.reason, field="child")
    session.add(ProjectLink(parent_id=parent.id, child_id=child.id))
    session.flush()
    audit.record(session, "project.linked", "Linked %s as a child of %s"
                 % (child.name, parent.name), user=user, project=parent, child=child.name)
    record_change(session, "project", project_id=parent.id)
    return child


def unlink(session: Session, parent_name: str, child_name: str, user: User | None) -> None:
    parent = get_project(session, parent_name, lock=True)
    child = get_project(session, child_name)
    row = session.get(ProjectLink, (parent.id, child.id))
    if row is None:
        raise InvalidInput("child: %s is not a child of %s" % (child.name, parent.name),
                           field="child")
    session.delete(row)
    audit.record(session, "project.unlinked", "Unlinked %s from its parent %s"
                 % (child.name, parent.name), user=user, project=parent, child=child.name)
    record_change(session, "project", project_id=parent.id)


# -- releases --------------------------------------------------------------------

def child_releases(session: Session, release: ReleaseRequest) -> list[ReleaseRequest]:
    return list(session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.parent_id == release.id, ReleaseRequest.deleted_at.is_(None))
        .order_by(ReleaseRequest.id)))


def create_children(session: Session, release: ReleaseRequest, comment: str,
                    user: User | None) -> list[ReleaseRequest]:
    """Create a release of every child project with the parent's (called by create_release)."""
    from rds_control.releases import create_release

    made = []
    for child in children_of(session, release.project_id):
        try:
            made.append(create_release(session, child.name, {"comment": comment}, user,
                                       parent=release))
        except ControlError as exc:
            raise type(exc)("cannot release %s: child project %s: %s"
                            % (release.project.name, child.name, exc.message),
                            field=exc.field) from None
    return made


def hold_parent(session: Session, release: ReleaseRequest) -> bool:
    """Called when ``release``'s own build is installed: True if it must wait (or failed)
    because of its children; the caller then leaves its status alone."""
    children = child_releases(session, release)
    failed = [c for c in children if c.status in (S.FAILED, S.CANCELLED)]
    if failed:
        reason = "child %s %s %s: %s" % (failed[0].project.name, failed[0].version,
                                         failed[0].status, failed[0].last_error or "")
        _set(session, release, S.FAILED, reason)
        audit.record(session, "release.failed", "%s %s failed: %s"
                     % (release.project.name, release.version, reason), release=release)
        return True
    waiting = [c for c in children if c.status not in (S.INSTALLED, S.USING, S.USED, S.OLD)]
    if waiting:
        _set(session, release, S.INSTALLING, "waiting for %s" % ", ".join(
            "%s %s (%s)" % (c.project.name, c.version, c.status) for c in waiting))
        return True
    return False


def child_installed(session: Session, release: ReleaseRequest) -> None:
    """A child release is installed: its parent may now be too."""
    parent = _locked_parent(session, release)
    if (parent is None or parent.status != S.INSTALLING or parent.installed_at is None
            or hold_parent(session, parent)):
        return
    _set(session, parent, S.INSTALLED, None)
    audit.record(session, "release.installed", "%s %s is installed with its children"
                 % (parent.project.name, parent.version), release=parent)


def child_failed(session: Session, release: ReleaseRequest) -> None:
    """A child release failed for good (no automatic retry): a waiting parent fails."""
    if release.status not in (S.FAILED, S.CANCELLED):
        return  # retried automatically
    parent = _locked_parent(session, release)
    if parent is not None and parent.status == S.INSTALLING and parent.installed_at is not None:
        hold_parent(session, parent)


def _locked_parent(session: Session, release: ReleaseRequest) -> ReleaseRequest | None:
    if release.parent_id is None:
        return None
    return session.scalars(select(ReleaseRequest).where(ReleaseRequest.id == release.parent_id)
                           .with_for_update()).one_or_none()


def _set(session: Session, release: ReleaseRequest, status: S, error: str | None) -> None:
    if release.status != status and not can_transition(S(release.status), status):
        log.info("release %s: refusing %s -> %s", release.id, release.status, status)
        return
    release.status = status
    release.last_error = error
    release_changed(session, release)


# -- activation, cancel --------------------------------------------------------------

def _activation_task(session: Session, release: ReleaseRequest) -> Task:
    """The release's latest activation task (the caller has just started one)."""
    task = session.scalars(select(Task).where(
        Task.release_id == release.id, Task.kind == TaskKind.ACTIVATE)
        .order_by(Task.created_at.desc()).limit(1)).first()
    if task is None:
        raise LookupError("release %s has no activation task" % release.id)
    return task


def check_children(session: Session, release: ReleaseRequest, user: User | None,
                   action: policy.Action) -> list[ReleaseRequest]:
    """The child releases that take part in activating ``release``; refuses the whole
    action (``policy.family``) if any of them may not."""
    children = [c for c in child_releases(session, release) if c.status != S.USED]
    answers = {c.project.name: policy.activate(facts.release_facts(c),
                                               facts.situation(session, c, user))
               for c in children}
    policy.require(policy.family(action, None, answers))
    return children


def activate_children(session: Session, release: ReleaseRequest, user: User | None,
                      children: list[ReleaseRequest]) -> None:
    """Start the children's activations as one family with ``release``'s."""
    from rds_control.releases import activate_release

    if not children:
        return
    root_task = _activation_task(session, release)
    family_id = root_task.family_task_id or root_task.id
    root_task.family_task_id = family_id
    for child in children:
        activate_release(session, child.id, user)  # and its own children, if any
    pending = list(children)
    while pending:  # the whole tree is one family
        member = pending.pop()
        _activation_task(session, member).family_task_id = family_id
        pending.extend(c for c in child_releases(session, member) if c.status == S.USING)


def cancel_children(session: Session, release: ReleaseRequest, user: User | None) -> None:
    from rds_control.releases import cancel_release

    for child in child_releases(session, release):
        if policy.cancel(facts.release_facts(child), facts.situation(session, child, user)):
            continue  # not building: nothing to cancel
        cancel_release(session, child.id, user)


def _family_tasks(session: Session, task: Task) -> list[Task]:
    return list(session.scalars(select(Task).where(
        Task.family_task_id == task.family_task_id).order_by(Task.created_at)))


def _lock_family(session: Session, task: Task) -> None:
    """Serialize the decisions of one family (the root task row is the lock)."""
    session.scalars(select(Task.id).where(Task.id == task.family_task_id)
                    .with_for_update()).first()


def _switch_back(session: Session, release: ReleaseRequest, why: str) -> None:
    from rds_control.releases import activate_release, find_release_by_version

    previous = (find_release_by_version(session, release.project_id, release.previous_version)
                if release.previous_version else None)
    if previous is None:
        audit.record(session, "release.family_switch_back", "Cannot switch %s %s back (%s): "
                     "nothing was live before" % (release.project.name, release.version, why),
                     release=release)
        return
    before = previous.previous_version
    try:
        activate_release(session, previous.id, None, cascade=False)
        # the family never went live on the failed version: a later revert of the
        # switched-back release goes where it would have gone before
        previous.previous_version = before
    except ControlError as exc:
        log.warning("switching %s back failed: %s", release.project.name, exc)
        audit.record(session, "release.family_switch_back", "Could not switch %s back to %s "
                     "(%s): %s" % (release.project.name, previous.version, why, exc.message),
                     release=release)
        return
    audit.record(session, "release.family_switch_back", "Switching %s back to %s: %s"
                 % (release.project.name, previous.version, why), release=previous)


def activation_failed(session: Session, task: Task) -> None:
    """A family member's activation failed: switch back every member that switched."""
    if task.family_task_id is None:
        return
    _lock_family(session, task)
    release = task.require_release()
    why = "%s %s failed to activate" % (release.project.name, release.version)
    for other in _family_tasks(session, task):
        if other.id != task.id and other.status == TaskStatus.SUCCEEDED:
            if other.require_release().status == S.USED:
                _switch_back(session, other.require_release(), why)


def activated(session: Session, task: Task) -> None:
    """A family member went live: if another member failed meanwhile, switch it back."""
    if task.family_task_id is None:
        return
    _lock_family(session, task)
    failed = [t for t in _family_tasks(session, task)
              if t.id != task.id and t.status == TaskStatus.FAILED]
    if failed:
        other = failed[0].require_release()
        _switch_back(session, task.require_release(), "%s %s failed to activate" % (
            other.project.name, other.version))


def family_summary(session: Session, project: Project) -> dict[str, object]:
    parent = parent_of(session, project.id)
    return {"project": project.name, "parent": parent.name if parent else None,
            "children": [c.name for c in children_of(session, project.id)],
            "checked_at": utcnow().isoformat()}
