"""Fixtures for the web UI tests: the Flask app on a real PostgreSQL database.

* ``app``: the application (CSRF on, as in production; a recording bus).
* personas ``admin``, ``deployer``, ``viewer`` (users with password
  ``PASSWORD``) and ``as_admin``/``as_deployer``/``as_viewer``/``anonymous``:
  ``UiClient`` test clients logged in through the login form; ``persona``
  is any of them, by parameter.
* ``make_project`` and ``make_release`` (plays agent events through
  ``rds_control.ingest``) to put releases in any state.

The database is shared by the whole session: every test names its projects
uniquely and filters by them.
"""
import pytest

from rds_control import projects, users
from rds_web import create_app
from tests.web.web_support import (
    RecordingBus,
    Releases,
    UiClient,
    in_tx,
    logged_in,
    make_user,
    project_data,
)


@pytest.fixture(scope="session")
def bus():
    return RecordingBus()


@pytest.fixture(scope="session")
def app(database_url, bus):
    return create_app({"TESTING": True, "SECRET_KEY": "web-tests", "DATABASE_URL": database_url,
                       "BUS_PUBLISHER": bus, "UI_STREAM_SECONDS": 0.8,
                       "UI_KEEPALIVE_SECONDS": 0.5})


@pytest.fixture(scope="session")
def admin(session_factory):
    return make_user(session_factory, "admin")


@pytest.fixture(scope="session")
def deployer(session_factory):
    return make_user(session_factory, "deployer")


@pytest.fixture(scope="session")
def viewer(session_factory):
    return make_user(session_factory, "viewer")


@pytest.fixture
def anonymous(app):
    return UiClient(app)


@pytest.fixture(scope="session")
def sessions(app, admin, deployer, viewer):
    """One logged-in client per persona for the whole run (logging in costs a scrypt)."""
    names = {"admin": admin, "deployer": deployer, "viewer": viewer}
    clients = {}

    def client(role):
        if role not in clients:
            clients[role] = logged_in(app, names[role])
        return clients[role]
    return client


@pytest.fixture
def as_admin(sessions):
    return sessions("admin")


@pytest.fixture
def as_deployer(sessions):
    return sessions("deployer")


@pytest.fixture
def as_viewer(sessions):
    return sessions("viewer")


@pytest.fixture
def persona(request, app, sessions):
    """Parametrize with "admin"/"deployer"/"viewer"/"anonymous" (``indirect=True``)."""
    if request.param == "anonymous":
        return UiClient(app)
    return sessions(request.param)


@pytest.fixture
def make_project(session_factory, deployer):
    def make(**overrides):
        data = project_data(**overrides)

        def create(session):
            user = users.get_user(session, deployer)
            return projects.create_project(session, data, user).name
        return in_tx(session_factory, create)
    return make


@pytest.fixture
def make_release(session_factory, deployer):
    return Releases(session_factory, deployer)

