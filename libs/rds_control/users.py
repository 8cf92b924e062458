"""Users, passwords and API tokens.

Passwords are hashed with Werkzeug's ``generate_password_hash`` (scrypt).
API tokens are random (``rds_`` + 40 URL-safe characters); only their
SHA-256 is stored, so a leaked database does not leak usable tokens.
"""
import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from rds_control import audit
from rds_control.errors import Conflict, InvalidInput, NotFound
from rds_db.models import ApiToken, Role, User
from rds_db.models.base import utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
TOKEN_PREFIX = "rds_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: A token's ``last_used_at`` is rewritten at most this often: a write (and its commit)
#: on every API request cost more than the request's reads.
TOKEN_TOUCH_SECONDS = 60.0

#: What each role may do; every check goes through ``can``.
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({"view"}),
    Role.DEPLOYER: frozenset({"view", "deploy", "manage_projects"}),
    Role.ADMIN: frozenset({"view", "deploy", "manage_projects", "admin"}),
}


def can(user: User | None, permission: str) -> bool:
    return (user is not None and user.disabled_at is None
            and permission in PERMISSIONS.get(user.role, ()))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound("no user named %r" % username)
    return user


def create_user(session: Session, username: str, role: str, password: str | None = None,
                email: str | None = None, actor: User | None = None) -> User:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise InvalidInput("user name must be 1-64 letters, digits or . _ @ -",
                           field="username")
    if role not in PERMISSIONS:
        raise InvalidInput("role must be one of %s" % ", ".join(sorted(PERMISSIONS)),
                           field="role")
    if email and (not isinstance(email, str) or len(email) > 254
                  or not EMAIL_RE.fullmatch(email)):
        raise InvalidInput("e-mail must be an address like name@example.com (at most 254 "
                           "characters)", field="email")
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise Conflict("user %r already exists" % username, field="username")
    user = User(username=username, role=Role(role), email=email or None)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    audit.record(session, "user.created", "Created user %s (%s)" % (username, role),
                 user=actor)
    return user


def set_password(user: User, password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput("password must be at least %d characters" % MIN_PASSWORD,
                           field="password")
    if len(password) > MAX_PASSWORD or "\0" in password:
        raise InvalidInput("password must be at most %d characters, without NUL"
                           % MAX_PASSWORD, field="password")
    user.password_hash = generate_password_hash(password)
    end_sessions(user)


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def check_password(session: Session, username: str, password: str,
                   now: datetime | None = None) -> User | None:
    """The user if the password matches and the account is enabled, else None.

    Exactly one scrypt check whatever the user name: unknown, disabled and
    known users take the same time (no enumeration by timing).
    """
    user = None
    if isinstance(username, str) and USERNAME_RE.fullmatch(username):
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
    stored = user.password_hash if user is not None and user.disabled_at is None else None
    matches = check_password_hash(stored if stored is not None else _dummy_hash(),
                                  password if isinstance(password, str) else "")
    if user is None or stored is None or not matches:
        return None
    user.last_login_at = now or utcnow()
    return user


def end_sessions(user: User) -> None:
    """End every browser session of ``user`` (logout, new password, disabled)."""
    user.session_version = (user.session_version or 0) + 1


def issue_token(session: Session, user: User, name: str | None,
                actor: User | None = None) -> tuple[str, ApiToken]:
    """Create a token for ``user``; returns ``(token_text, row)``. Shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(30)
    name = "".join(ch for ch in (name or "") if ch.isprintable())[:100]
    row = ApiToken(user=user, name=name or "token", token_hash=_hash_token(token),
                   prefix=token[:12])
    session.add(row)
    session.flush()
    audit.record(session, "token.issued", "Issued API token %s… (%s) for %s"
                 % (row.prefix, row.name, user.username), user=actor or user)
    return token, row


def revoke_token(session: Session, token_id: int, actor: User | None) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        raise NotFound("no active token with id %s" % token_id)
    row.revoked_at = utcnow()
    audit.record(session, "token.revoked", "Revoked API token %s… of %s"
                 % (row.prefix, row.user.username), user=actor)


def user_for_token(session: Session, token: str | None,
                   now: datetime | None = None) -> tuple[User | None, int | None]:
    """``(user, token id to mark used)``: the enabled user owning an unrevoked token (else
    None), and the token's id when its ``last_used_at`` is older than
    ``TOKEN_TOUCH_SECONDS`` (else None; see :func:`touch_token`). One query: a request
    reads, it does not write, unless the token's last use is stale."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None, None
    row = session.scalars(select(ApiToken).options(joinedload(ApiToken.user)).where(
        ApiToken.token_hash == _hash_token(token), ApiToken.revoked_at.is_(None))).one_or_none()
    if row is None or row.user.disabled_at is not None:
        return None, None
    now = now or utcnow()
    stale = (row.last_used_at is None
             or now - row.last_used_at >= timedelta(seconds=TOKEN_TOUCH_SECONDS))
    return row.user, row.id if stale else None


def touch_token(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that a token was used (``last_used_at``, shown to admins to the minute)."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id)
                    .values(last_used_at=now or utcnow()))
