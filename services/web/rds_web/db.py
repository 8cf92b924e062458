"""Database access for the web app, flaskr-style: one session per request on ``g``."""
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from rds_control import unit
from rds_db.session import make_engine, make_session_factory

EXTENSION = "rds_db"

P = ParamSpec("P")
T = TypeVar("T")


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[EXTENSION] = make_session_factory(engine)
    app.teardown_appcontext(close_session)


def session_factory() -> sessionmaker[Session]:
    return current_app.extensions[EXTENSION]


def get_session() -> Session:
    """The request's session (for reads; writes go through ``run``)."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def run(fn: Callable[Concatenate[Session, P], T], *args: P.args,
        **kwargs: P.kwargs) -> T:
    """Run a control-plane operation in its own transaction, then publish its commands."""
    from rds_web.bus import get_publisher

    close_session()
    return unit.run(session_factory(), get_publisher(), fn, *args, **kwargs)
