"""Fixtures for control-plane tests on a real PostgreSQL database.

Each test works in ``db_session``, rolled back afterwards; factories take
overrides (``make_project(name="x", servers=[...])``).
"""
import itertools
import uuid

import pytest
from sqlalchemy import delete

from rds_contracts import agents, builder
from rds_control import projects, releases, users
from rds_control.ingest import apply_event
from rds_db.models import OutboxMessage, Project, User
from rds_db.session import transaction

_names = itertools.count(1)


@pytest.fixture
def make_user(db_session):
    def make(role="deployer", **overrides):
        name = overrides.pop("username", "%s%d" % (role, next(_names)))
        return users.create_user(db_session, name, role, **overrides)
    return make


@pytest.fixture
def alice(make_user):
    """A deployer."""
    return make_user("deployer", username="alice-%s" % uuid.uuid4().hex[:6])


@pytest.fixture
def make_project(db_session, alice):
    def make(**overrides):
        data = {"name": "app%d-%s" % (next(_names), uuid.uuid4().hex[:6]),
                "repository": "/srv/git/app.git", "deploy_path": "apps/app",
                "servers": [{"host": "10.0.0.1", "user": "deploy"},
                            {"host": "10.0.0.2", "user": "deploy"}],
                "scripts": {"build": "make"}}
        data.update(overrides)
        return projects.create_project(db_session, data, alice)
    return make


class Agent:
    """Plays one run of an agent task: builds events with increasing seq."""

    def __init__(self, session, task_id, name="host1/builder/1"):
        self.session = session
        self.task_id = task_id
        self.name = name
        self.run_id = uuid.uuid4().hex
        self.seq = 0

    def event(self, schema, seq=None, **fields):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return schema(task_id=self.task_id, run_id=self.run_id, seq=seq, **fields)

    def send(self, name, schema, **fields):
        event = self.event(schema, **fields)
        apply_event(self.session, name, event)
        return event

    def start(self, redelivered=False):
        return self.send(agents.TASK_STARTED, agents.TaskStarted, agent=self.name,
                         redelivered=redelivered)

    def install_everything(self, project):
        self.start()
        self.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="a" * 40, files=1, bytes=1)
        self.send(builder.BUILD_INSTALLING, builder.BuildInstalling,
                  servers=len(project.servers))
        for server in project.servers:
            self.send(builder.SERVER_READY, builder.ServerReady, server_id=server.id,
                      manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
        self.send(builder.BUILD_FINISHED, builder.BuildFinished,
                  servers=[{"server_id": s.id, "ok": True} for s in project.servers])


@pytest.fixture
def committed_build(session_factory):
    """A committed release whose build runs, for tests with several transactions:
    ``(release id, task, run id, user)``; deleted afterwards."""
    with transaction(session_factory) as session:
        user = users.create_user(session, "committed-%s" % uuid.uuid4().hex[:6], "deployer")
        project = projects.create_project(session, {
            "name": "committed-%s" % uuid.uuid4().hex[:6], "repository": "/srv/git/app.git",
            "deploy_path": "apps/app", "servers": [{"host": "10.0.0.1", "user": "deploy"}],
            "scripts": {"build": "make"}}, user)
        release = releases.create_release(session, project.name, {}, user)
        task = release.tasks[-1]
        run_id = uuid.uuid4().hex
        apply_event(session, agents.TASK_STARTED, agents.TaskStarted(
            task_id=task.id, run_id=run_id, seq=1, agent="host1/builder/1"))
    yield release.id, task, run_id, user
    with transaction(session_factory) as session:  # other tests share the database
        session.execute(delete(OutboxMessage).where(  # its build and cancel commands
            OutboxMessage.body["task_id"].astext == task.id))
        session.delete(session.get(Project, project.id))
        session.delete(session.get(User, user.id))


@pytest.fixture
def agent_for(db_session):
    def make(task, name="host1/builder/1"):
        return Agent(db_session, task.id, name)
    return make


@pytest.fixture
def installed_release(db_session, make_project, alice, agent_for):
    """Build a release and play the agent until it is installed."""
    def make(project=None, **data):
        project = project or make_project()
        release = releases.create_release(db_session, project.name, data, alice)
        agent_for(release.tasks[-1]).install_everything(project)
        return release
    return make
