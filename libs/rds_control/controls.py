"""Setting and lifting what stops deploys: release bans and the deployment switch.

A **release ban** stops new releases of one project on one release line
(with a comment, its author and an optional expiry); deployers and admins
set and lift them. The **deployment switch** stops every deploy of every
project (with a reason); only admins flip it. What either one blocks (new
releases, rebuilds, automatic retries, activations, never the rollback to
the previous version) is decided in ``rds_control.policy`` alone;
``rds_control.facts`` reads the active bans with the clock it is given.

Every change is audited and appended to the change feed; ``rds_control.
notifications`` turns the audit entries into messages for subscribers.
Time is injected (``now``), so expiry is testable without waiting.
"""
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, StrictBool, field_validator
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, joinedload

from rds_control import audit, facts, lines, policy
from rds_control.changes import record_change
from rds_control.errors import Conflict, InvalidInput, NotFound
from rds_control.inputs import ONE_LINE, STRIP, Input, limits, parse
from rds_control.projects import get_project
from rds_db.models import DeploymentSwitch, Project, ReleaseBan, User
from rds_db.models.base import utcnow

MAX_TEXT = 2000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class BanInput(Input):
    comment: Annotated[str, STRIP, ONE_LINE, limits(MAX_TEXT)]
    #: The release line to ban (default: the project's current line).
    release_line: int | None = Field(default=None, ge=0, le=lines.MAX_LINE, strict=True)
    #: When the ban ends by itself (ISO 8601; without a zone: UTC). None: until lifted.
    expires_at: datetime | None = None

    _comment = field_validator("comment")(_no_nul)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class SwitchInput(Input):
    enabled: StrictBool
    reason: Annotated[str, STRIP, ONE_LINE, limits(MAX_TEXT, min_length=0)] = ""

    _reason = field_validator("reason")(_no_nul)


def _ban_query() -> Select[ReleaseBan]:
    return select(ReleaseBan).options(joinedload(ReleaseBan.project),
                                      joinedload(ReleaseBan.author))


def active_bans(session: Session, project: str | None = None,
                now: datetime | None = None) -> list[ReleaseBan]:
    """Bans in force at ``now`` (not lifted, not expired), of one project or all."""
    now = now or utcnow()
    query = _ban_query().where(ReleaseBan.lifted_at.is_(None),
                               or_(ReleaseBan.expires_at.is_(None), ReleaseBan.expires_at > now))
    if project:
        query = query.join(Project, Project.id == ReleaseBan.project_id).where(
            Project.name == project)
    return list(session.scalars(query.order_by(ReleaseBan.id)).unique())


def describe(ban: ReleaseBan) -> str:
    """One line about a ban, as the audit log and notifications say it."""
    until = (" until %s" % ban.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
             if ban.expires_at else "")
    return "%s line %d%s: %s" % (ban.project.name, ban.release_line, until, ban.comment)


def set_ban(session: Session, project_name: str, data: object, user: User | None,
            now: datetime | None = None) -> ReleaseBan:
    """Ban new releases of a project on a line; InvalidInput names a bad field."""
    values = parse(BanInput, data)
    project = get_project(session, project_name, lock=True)
    policy.require(policy.change_ban(facts.project_situation(session, project, user, now)))
    now = now or utcnow()
    if values.expires_at is not None and values.expires_at <= now:
        raise InvalidInput("expires_at: the expiry %s is not in the future"
                           % values.expires_at.isoformat(), field="expires_at")
    line = lines.release_line_for(session, project, values.release_line)
    ban = ReleaseBan(project=project, release_line=line, comment=values.comment,
                     user_id=user.id if user else None, expires_at=values.expires_at)
    session.add(ban)
    session.flush()
    session.refresh(ban)
    audit.record(session, "ban.set", "Banned releases of %s" % describe(ban), user=user,
                 project=project, ban_id=ban.id, release_line=line)
    record_change(session, "project", project_id=project.id)
    return ban


def get_ban(session: Session, ban_id: int, lock: bool = False) -> ReleaseBan:
    query = _ban_query().where(ReleaseBan.id == ban_id)
    if lock:
        query = query.with_for_update(of=ReleaseBan)
    ban = session.scalars(query).unique().one_or_none()
    if ban is None:
        raise NotFound("no release ban with id %s" % ban_id)
    return ban


def lift_ban(session: Session, ban_id: int, user: User | None,
             now: datetime | None = None) -> ReleaseBan:
    """End a ban before its expiry (refused when it already ended)."""
    ban = get_ban(session, ban_id, lock=True)
    policy.require(policy.change_ban(facts.project_situation(session, ban.project, user, now)))
    now = now or utcnow()
    if ban.lifted_at is not None:
        raise Conflict("release ban %d was already lifted" % ban.id)
    if ban.expires_at is not None and ban.expires_at <= now:
        raise Conflict("release ban %d already expired" % ban.id)
    ban.lifted_at = now
    ban.lifted_by_id = user.id if user else None
    audit.record(session, "ban.lifted", "Lifted the release ban of %s" % describe(ban),
                 user=user, project=ban.project, ban_id=ban.id, release_line=ban.release_line)
    record_change(session, "project", project_id=ban.project_id)
    return ban


def deployment_switch(session: Session, lock: bool = False) -> DeploymentSwitch:
    query = select(DeploymentSwitch).where(DeploymentSwitch.id == 1)
    if lock:
        query = query.with_for_update()
    switch = session.scalars(query).one_or_none()
    if switch is None:  # the schema creates it; recreate it if someone deleted it
        switch = DeploymentSwitch(id=1, enabled=True)
        session.add(switch)
        session.flush()
    return switch


def set_switch(session: Session, data: object, user: User | None,
               now: datetime | None = None) -> DeploymentSwitch:
    """Stop (``enabled: false`` with a reason) or resume every deploy; admins only."""
    values = parse(SwitchInput, data)
    policy.require(policy.flip_switch(str(user.role) if user is not None else None))
    if not values.enabled and not values.reason:
        raise InvalidInput("reason: say why deployment is switched off", field="reason")
    switch = deployment_switch(session, lock=True)
    if bool(switch.enabled) == values.enabled:
        raise Conflict("deployment is already switched %s" % ("on" if values.enabled else "off"),
                       field="enabled")
    switch.enabled = values.enabled
    switch.reason = None if values.enabled else values.reason
    switch.user_id = user.id if user else None
    switch.changed_at = now or utcnow()
    if values.enabled:
        audit.record(session, "switch.on", "Switched deployment back on%s"
                     % (": %s" % values.reason if values.reason else ""), user=user)
    else:
        audit.record(session, "switch.off", "Switched deployment off: %s" % values.reason,
                     user=user)
    record_change(session, "switch")
    return switch
