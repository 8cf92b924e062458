"""Engines and sessions.

``DATABASE_URL`` (env ``RDS_DATABASE_URL``) names the database, e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/rds``. Sessions are short:
one per HTTP request, one per nameko worker, one per timer run.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CursorResult, Engine, Executable, create_engine
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL_KEY = "DATABASE_URL"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def affected_rows(session: Session, statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE; how many rows it touched."""
    result = session.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError("%s did not run as a cursor result" % type(statement).__name__)
    return result.rowcount or 0


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed on success, rolled back on error."""
    session = session_factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()
