"""User administration: roles, disabling, password resets (audit-logged).

Creating users and issuing tokens live in ``rds_control.users``; this module
adds what the admin page changes afterwards. No change may leave rds
without an enabled admin.
"""
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from rds_control import audit
from rds_control.errors import Conflict, InvalidInput, NotFound
from rds_control.users import PERMISSIONS, end_sessions, set_password
from rds_db.models import Role, User
from rds_db.models.base import utcnow


def list_users(session: Session) -> list[User]:
    """Every user with their tokens, by name."""
    return list(session.scalars(select(User).options(selectinload(User.tokens))
                                .order_by(User.username)))


def get_user_by_id(session: Session, user_id: int, lock: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if lock:
        query = query.with_for_update()
    user = session.scalars(query).one_or_none()
    if user is None:
        raise NotFound("no user with id %s" % user_id)
    return user


def _other_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count(User.id)).where(
        User.role == Role.ADMIN, User.disabled_at.is_(None), User.id != user.id)) or 0


def set_role(session: Session, user_id: int, role: str, actor: User) -> User:
    """Give a user another role."""
    if role not in PERMISSIONS:
        raise InvalidInput("role must be one of %s" % ", ".join(sorted(PERMISSIONS)),
                           field="role")
    new = Role(role)
    user = get_user_by_id(session, user_id, lock=True)
    if user.role == new:
        return user
    if user.role == Role.ADMIN and not _other_admins(session, user):
        raise Conflict("%s is the last admin; make someone else admin first" % user.username,
                       field="role")
    old, user.role = user.role, new
    audit.record(session, "user.role", "Changed the role of %s from %s to %s"
                 % (user.username, old, new), user=actor, old=old, new=new)
    return user


def set_disabled(session: Session, user_id: int, disabled: bool, actor: User) -> User:
    """Disable a user (no login, no API token) or enable them again."""
    user = get_user_by_id(session, user_id, lock=True)
    if disabled and user.disabled_at is None:
        if user.role == Role.ADMIN and not _other_admins(session, user):
            raise Conflict("%s is the last admin and cannot be disabled" % user.username)
        user.disabled_at = utcnow()
        end_sessions(user)
        audit.record(session, "user.disabled", "Disabled user %s" % user.username, user=actor)
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session, "user.enabled", "Enabled user %s" % user.username, user=actor)
    return user


def reset_password(session: Session, user_id: int, password: str, actor: User) -> User:
    """Set a new password for a user (ends their other browser sessions)."""
    user = get_user_by_id(session, user_id, lock=True)
    set_password(user, password)
    audit.record(session, "user.password", "Set a new password for %s" % user.username,
                 user=actor)
    return user

