"""Database errors by class: connection loss retried later, conflicts retried at once,
bad data never retried (real PostgreSQL errors)."""
import pytest
from sqlalchemy import text

from rds_control import unit
from rds_control.db_errors import DbFailure, classify, is_transient
from rds_db.session import make_engine


def error_of(session_factory, sql):
    with session_factory() as session:
        try:
            session.execute(text(sql))
        except Exception as exc:
            return exc
    raise AssertionError("%s did not fail" % sql)


def test_out_of_range_values_are_data_errors(session_factory):
    for sql in ("SELECT (2147483648)::integer", "SELECT 'not a number'::integer",
                "SELECT 1/0"):
        exc = error_of(session_factory, sql)
        assert classify(exc) == DbFailure.DATA, sql
        assert not is_transient(exc)


def test_a_nul_byte_is_never_retried(session_factory):
    with session_factory() as session, pytest.raises(Exception) as info:
        session.execute(text("SELECT :value"), {"value": "a\x00b"})
    assert not is_transient(info.value)
    assert not is_transient(error_of(session_factory, "SELECT 'a' || chr(0)"))


def test_a_lost_connection_is_transient():
    engine = make_engine("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(Exception) as info:
        engine.connect()
    assert classify(info.value) == DbFailure.CONNECTION and is_transient(info.value)


def test_a_deadlock_is_retried_at_once_by_the_unit_of_work(session_factory):
    calls = []

    def deadlocks_once(session):
        calls.append(1)
        if len(calls) == 1:
            session.execute(text(
                "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = 'deadlock_detected'; "
                "END $$"))
        return "done"

    assert unit.run(session_factory, None, deadlocks_once) == "done" and len(calls) == 2


def test_a_data_error_is_not_retried_by_the_unit_of_work(session_factory):
    calls = []

    def bad(session):
        calls.append(1)
        session.execute(text("SELECT (2147483648)::integer"))

    with pytest.raises(Exception) as info:
        unit.run(session_factory, None, bad)
    assert classify(info.value) == DbFailure.DATA and len(calls) == 1
