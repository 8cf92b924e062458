"""Helpers of the web UI tests (imported by conftest and the tests)."""
import contextlib
import re
import secrets
import uuid

from rds_contracts import activator, agents, builder
from rds_control import projects, releases, users
from rds_control.ingest import apply_event
from rds_control.unit import run

PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class RecordingBus:
    """Stands in for RabbitMQ: remembers every command the web published."""

    def __init__(self):
        self.sent = []

    def send_command(self, command, pool):
        self.sent.append(("send", command, pool))

    def broadcast_command(self, command, pool):
        self.sent.append(("broadcast", command, pool))


@contextlib.contextmanager
def statements_run(app):
    """The SQL statements the app's database engine runs inside the ``with`` block."""
    from sqlalchemy import event

    engine = app.extensions["rds_db"].kw["bind"]
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def in_tx(session_factory, fn, *args, **kwargs):
    """Run a control-plane function in its own committed transaction."""
    return run(session_factory, None, fn, *args, **kwargs)


def make_user(session_factory, role):
    name = unique(role)
    in_tx(session_factory, lambda s: users.create_user(s, name, role, password=PASSWORD).id)
    return name


class UiClient:
    """A Flask test client that logs in through the form and sends CSRF tokens."""

    def __init__(self, app, address=None):
        self.client = app.test_client()
        # each client its own address, so login throttling of one test never blocks another
        self.client.environ_base["REMOTE_ADDR"] = address or "10.%d.%d.%d" % tuple(
            secrets.randbelow(250) + 1 for _ in range(3))
        self.username = None

    def csrf_token(self):
        page = self.client.get("/login", follow_redirects=True).get_data(as_text=True)
        match = CSRF_META.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def login(self, username, password=PASSWORD):
        response = self.client.post("/login", data={
            "username": username, "password": password, "csrf_token": self.csrf_token()})
        self.username = username
        return response

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf is True:
            data["csrf_token"] = self.csrf_token()
        elif csrf:
            data["csrf_token"] = csrf
        return self.client.post(url, data=data, **kwargs)


def logged_in(app, username):
    client = UiClient(app)
    response = client.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def project_data(**overrides):
    data = {"name": unique("app"), "repository": "/srv/git/app.git", "deploy_path": "apps/app",
            "servers": [{"host": "10.0.0.1", "user": "deploy"},
                        {"host": "10.0.0.2", "user": "deploy"}],
            "scripts": {"build": "make"}}
    data.update(overrides)
    return data


class Agent:
    """Plays the agent side of one task: events with increasing seq, applied by ingest."""

    def __init__(self, session_factory, task_id, name="host1/builder/1"):
        self.session_factory = session_factory
        self.task_id = task_id
        self.name = name
        self.run_id = uuid.uuid4().hex
        self.seq = 0

    def send(self, name, schema, **fields):
        self.seq += 1
        event = schema(task_id=self.task_id, run_id=self.run_id, seq=self.seq, **fields)
        in_tx(self.session_factory, apply_event, name, event)

    def start(self):
        self.send(agents.TASK_STARTED, agents.TaskStarted, agent=self.name)

    def log(self, text):
        self.send(agents.TASK_LOG, agents.TaskLog, text=text)

    def step(self, step, state, **fields):
        self.send(agents.TASK_STEP, agents.TaskStep, step=step, state=state, **fields)

    def install(self, server_ids):
        self.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="a" * 40, files=1, bytes=1)
        self.send(builder.BUILD_INSTALLING, builder.BuildInstalling, servers=len(server_ids))
        for server_id in server_ids:
            self.send(builder.SERVER_READY, builder.ServerReady, server_id=server_id,
                      manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
        self.send(builder.BUILD_FINISHED, builder.BuildFinished,
                  servers=[{"server_id": i, "ok": True} for i in server_ids])

    def fail(self, phase="build", reason="make: *** [all] Error 2"):
        self.send(builder.BUILD_FAILED, builder.BuildFailed, phase=phase, reason=reason)

    def activated(self, server_ids):
        self.send(activator.ACTIVATION_FINISHED, activator.ActivationFinished,
                  servers=[{"server_id": i, "ok": True} for i in server_ids])


class Releases:
    """Puts releases of a project into a given state, as the agents would."""

    def __init__(self, session_factory, deployer):
        self.session_factory = session_factory
        self.deployer = deployer

    def _user(self, session):
        return users.get_user(session, self.deployer)

    def create(self, project, comment="a change"):
        def create(session):
            release = releases.create_release(session, project, {"comment": comment},
                                              self._user(session))
            return release.id, release.tasks[-1].id, [s.id for s in release.project.servers]
        return in_tx(self.session_factory, create)

    def task_of(self, release_id, kind):
        def find(session):
            release = releases.get_release(session, release_id)
            return [t.id for t in release.tasks if t.kind == kind][-1]
        return in_tx(self.session_factory, find)

    def building(self, project, comment="a change"):
        """A new release whose build an agent has started: (release id, agent, server ids)."""
        release_id, task_id, servers = self.create(project, comment)
        agent = Agent(self.session_factory, task_id)
        agent.start()
        return release_id, agent, servers

    def installed(self, project, comment="a change"):
        release_id, agent, servers = self.building(project, comment)
        agent.install(servers)
        return release_id

    def live(self, project, comment="a change"):
        release_id = self.installed(project, comment)
        self.activate(release_id)
        return release_id

    def activate(self, release_id):
        def activate(session):
            release = releases.activate_release(session, release_id, self._user(session))
            return [t.id for t in release.tasks if t.kind == "activate"][-1], \
                [s.id for s in release.project.servers]
        task_id, servers = in_tx(self.session_factory, activate)
        agent = Agent(self.session_factory, task_id, name="host1/activator/1")
        agent.start()
        agent.activated(servers)

    def status(self, release_id):
        return in_tx(self.session_factory,
                     lambda s: releases.get_release(s, release_id).status)


def heartbeat(session_factory, name, at, tasks=()):
    """Record a heartbeat of a builder agent, as ingest would."""
    event = agents.AgentHeartbeat(agent=name, service="builder", pool="default", host="host9",
                                  pid=42, version="0.1.0", running_tasks=list(tasks),
                                  interval=1.0, at=at)
    in_tx(session_factory, apply_event, agents.AGENT_HEARTBEAT, event)


def seed_releases(session_factory, project_name, count, status="installed"):
    """Insert ``count`` releases of a project directly (fast; no tasks). Returns their ids."""
    from datetime import timedelta

    from rds_core import versions
    from rds_db.models import ProjectLineCounter, ReleaseRequest
    from rds_db.models.base import utcnow

    def seed(session):
        project = projects.get_project(session, project_name, lock=True)
        start = utcnow() - timedelta(minutes=count)
        rows = []
        for n in range(1, count + 1):
            version = "1.00.%03d.%d" % (n, n)
            rows.append(ReleaseRequest(
                project_id=project.id, version=version,
                version_key=list(versions.version_key(version)), release_line=1,
                status=status, comment="seeded %d" % n, ref="main",
                created_at=start + timedelta(minutes=n)))
        session.add_all(rows)
        session.add(ProjectLineCounter(project_id=project.id, line=1, counter=count))
        project.build_counter = count
        session.flush()
        return [r.id for r in rows]
    return in_tx(session_factory, seed)
