"""Password logins through the UI (throttled per user name and per address) and logouts, audited.

Each key (``user:<name>`` and ``addr:<address>``) may fail ``FREE_FAILURES``
times within ``WINDOW``; every further failure blocks the key for twice as
long as the one before (``BASE_DELAY``, 2×, 4×… up to ``MAX_DELAY``). While a
key is blocked its attempts are refused without looking at the password, so
guessing costs the attacker time, not the server scrypt work. A success clears
the user's counter (the address's decays with ``WINDOW``: one valid account
must not unlock guessing at others). Unknown and known user names cost the
same (one scrypt each, see ``rds_control.users.check_password``).

Time comes from the caller (``now``), so tests drive it with a fake clock.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from rds_control import audit
from rds_control.users import check_password, end_sessions
from rds_db.models import LoginThrottle, User
from rds_db.session import affected_rows

FREE_FAILURES = 5
BASE_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=15)
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    #: Seconds until the next attempt is considered (0: not blocked).
    retry_after: int = 0


def throttle_keys(username: str, address: str) -> list[str]:
    return ["user:" + username.lower()[:64], "addr:" + address[:64]]


def delay_after(failures: int) -> timedelta:
    """How long a key waits after its ``failures``-th failure in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    delay: timedelta = BASE_DELAY * 2 ** min(failures - FREE_FAILURES, 20)
    return min(delay, MAX_DELAY)


def attempt_login(session: Session, username: str, password: str, address: str,
                  now: datetime) -> LoginOutcome:
    """Check a password login, honouring and updating the throttle; audits the outcome."""
    keys = throttle_keys(username, address)
    session.execute(insert(LoginThrottle).values(
        [{"key": key, "failures": 0, "last_failure_at": now} for key in keys])
        .on_conflict_do_nothing())
    rows = {row.key: row for row in session.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_(keys)).with_for_update())}
    blocked = [row.blocked_until for row in rows.values()
               if row.blocked_until is not None and row.blocked_until > now]
    if blocked:
        retry_after = max(1, int((max(blocked) - now).total_seconds() + 0.999))
        audit.record(session, "user.login_throttled", "Refused a login as %r from %s: "
                     "too many failures (retry in %ds)" % (username[:64], address, retry_after),
                     actor="anonymous")
        return LoginOutcome(None, retry_after)
    user = check_password(session, username, password, now=now)
    if user is not None:
        if keys[0] in rows:
            session.delete(rows[keys[0]])
        audit.record(session, "user.login", "%s logged in from %s" % (user.username, address),
                     user=user)
        return LoginOutcome(user)
    for key in keys:
        row = rows[key]
        if now - row.last_failure_at > WINDOW:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = delay_after(row.failures)
        row.blocked_until = now + delay if delay else None
    audit.record(session, "user.login_failed", "Failed login as %r from %s"
                 % (username[:64], address), actor="anonymous")
    return LoginOutcome(None)


def forget(session: Session, now: datetime) -> int:
    """Delete counters that no longer matter (quiet for WINDOW, not blocked); returns how many."""
    return affected_rows(session, delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < now - WINDOW,
        (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now)))


def record_logout(session: Session, user_id: int) -> None:
    """Audit a logout and end every session of the user, in every browser."""
    user = session.get(User, user_id)
    if user is not None:
        end_sessions(user)
        audit.record(session, "user.logout", "%s logged out" % user.username, user=user)
