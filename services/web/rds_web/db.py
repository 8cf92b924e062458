"""Database access for the web app, flaskr-style: one session per request on ``g``."""
from flask import current_app, g

from rds_control import unit
from rds_db.session import make_engine, make_session_factory

EXTENSION = "rds_db"


def init_app(app):
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[EXTENSION] = make_session_factory(engine)
    app.teardown_appcontext(close_session)


def session_factory():
    return current_app.extensions[EXTENSION]


def get_session():
    """The request's session (for reads; writes go through ``run``)."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def close_session(exc=None):
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def run(fn, *args, **kwargs):
    """Run a control-plane operation in its own transaction, then publish its commands."""
    from rds_web.bus import get_publisher

    close_session()
    return unit.run(session_factory(), get_publisher(), fn, *args, **kwargs)
