"""Login throttling at the control-plane level, on a fake clock."""
from datetime import UTC, datetime, timedelta

import pytest

from rds_control import logins
from rds_control.housekeeping import trim
from rds_db.models import AuditEntry, LoginThrottle

T0 = datetime(2031, 5, 1, tzinfo=UTC)


@pytest.fixture
def someone(make_user):
    user = make_user("viewer", password="the right password")
    return user.username


def attempt(db_session, username, password, at, address="192.0.2.1"):
    return logins.attempt_login(db_session, username, password, address, at)


@pytest.mark.parametrize("failures, seconds", [(4, 0), (5, 2), (6, 4), (7, 8), (30, 900)])
def test_the_delay_doubles_after_the_free_failures_up_to_a_cap(failures, seconds):
    assert logins.delay_after(failures) == timedelta(seconds=seconds)


def test_a_blocked_user_name_is_refused_without_checking_the_password(db_session, someone,
                                                                        monkeypatch):
    for n in range(logins.FREE_FAILURES):
        assert attempt(db_session, someone, "wrong", T0, address="192.0.2.%d" % n).user is None
    checked = []
    monkeypatch.setattr(logins, "check_password", lambda *a, **k: checked.append(a))
    outcome = attempt(db_session, someone, "the right password", T0 + timedelta(seconds=1))
    assert outcome.user is None and outcome.retry_after == 1 and checked == []
    assert db_session.query(AuditEntry).filter_by(action="user.login_throttled").count() >= 1


def test_user_names_are_throttled_whatever_their_case(db_session, someone):
    for _ in range(logins.FREE_FAILURES):
        attempt(db_session, someone.upper(), "wrong", T0)
    assert attempt(db_session, someone, "the right password", T0).retry_after == 2


def test_old_quiet_counters_are_trimmed_and_recent_ones_kept(db_session, someone, make_user):
    other = make_user("viewer").username
    for _ in range(logins.FREE_FAILURES):
        attempt(db_session, someone, "wrong", T0)
    later = T0 + logins.WINDOW + timedelta(seconds=1)
    attempt(db_session, other, "wrong", later)
    trim(db_session, now=later)
    assert db_session.get(LoginThrottle, "user:" + someone) is None
    assert db_session.get(LoginThrottle, "user:" + other).failures == 1


def test_attempts_while_blocked_do_not_extend_the_block(db_session, someone):
    for _ in range(logins.FREE_FAILURES):
        attempt(db_session, someone, "wrong", T0)
    for _ in range(20):
        assert attempt(db_session, someone, "wrong", T0 + timedelta(seconds=1)).retry_after
    assert attempt(db_session, someone, "the right password",
                   T0 + timedelta(seconds=2)).user is not None
