"""Flask test client of the JSON API on the real database; commands go to a
recording publisher (the broker is outside what these tests look at)."""
import uuid

import pytest

from rds_control import users
from rds_db.session import transaction
from rds_web import create_app


class RecordingPublisher:
    def __init__(self):
        self.sent = []

    def send_command(self, command, pool):
        self.sent.append((command, pool))

    def broadcast_command(self, command, pool):
        self.sent.append((command, pool))


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def app(database_url, publisher):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "BUS_PUBLISHER": publisher, "TESTING": True})


@pytest.fixture
def persona(session_factory):
    """``persona(role)`` -> headers with a token of a new user of that role."""
    def make(role):
        with transaction(session_factory) as session:
            user = users.create_user(session, "%s-%s" % (role, uuid.uuid4().hex[:8]), role)
            token, _ = users.issue_token(session, user, "test")
        return {"Authorization": "Bearer " + token}
    return make


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def project_body():
    def make(**overrides):
        body = {"name": "api-%s" % uuid.uuid4().hex[:8], "repository": "/srv/git/x.git",
                "deploy_path": "apps/x", "servers": [{"host": "10.1.1.1", "user": "deploy"}],
                "scripts": {"build": "make"}}
        body.update(overrides)
        return body
    return make
