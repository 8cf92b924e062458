"""Fixtures for the SSH strategy tests: real sshd app servers, no mocks.

Each test gets its own deploy path ``apps/<uuid>`` (relative: it lands in
each login user's home) and removes it from both homes afterwards.
"""
import contextlib
import os
import shutil
import uuid

import pytest

from rds_agent.settings import AgentSettings
from rds_contracts.base import ServerSpec
from rds_core.manifest import scan_tree
from rds_ssh.connection import SshSettings
from rds_ssh.upload import upload_release

V1, V2 = "1.00.001.1", "1.00.002.2"
R1, R2 = "releases/" + V1, "releases/" + V2


def quiet(text):
    pass


def on_disk(app_servers, deploy_path):
    """What ``current`` is on each server's filesystem (None if missing)."""
    links = []
    for server in app_servers:
        path = server.path(deploy_path, "current")
        links.append(os.readlink(path) if os.path.lexists(path) else None)
    return links


@pytest.fixture
def settings(ssh_key, tmp_path):
    return SshSettings(key_path=ssh_key, known_hosts_path=str(tmp_path / "rds" / "known_hosts"),
                       connect_timeout=5, command_timeout=60)


@pytest.fixture(params=["rsync", "tar/openssh", "tar/paramiko"])
def method(request, settings, monkeypatch):
    """Run the test once per way of sending: rsync deltas, tar over OpenSSH or paramiko."""
    if request.param == "tar/paramiko":
        settings.transport = "paramiko"
    elif request.param == "tar/openssh":
        real = shutil.which
        monkeypatch.setattr("rds_ssh.upload.shutil.which",
                            lambda name: None if name == "rsync" else real(name))
    return request.param


@pytest.fixture
def servers(app_servers):
    return [ServerSpec(id=i + 1, host="127.0.0.1", port=s.port, user=s.user)
            for i, s in enumerate(app_servers)]


@pytest.fixture
def deploy_path(app_servers):
    path = "apps/%s" % uuid.uuid4().hex
    yield path
    for server in app_servers:
        server.reset_home(path)
        try:
            os.rmdir(server.path("apps"))  # only if no other test uses it
        except OSError:
            pass


def write_tree(root, files, links=None, modes=None):
    """Create ``root`` with ``{relpath: text}`` files, ``{relpath: target}`` symlinks."""
    os.makedirs(root, exist_ok=True)
    for rel, text in files.items():
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
    for rel, target in (links or {}).items():
        os.symlink(target, os.path.join(root, rel))
    for rel, mode in (modes or {}).items():
        os.chmod(os.path.join(root, rel), mode)
    return str(root)


@pytest.fixture
def upload(servers, deploy_path, settings, tmp_path):
    """``upload(version, files, links=None, modes=None, servers=None, **kw)`` -> results."""
    def run(version, files, links=None, modes=None, targets=None, **kwargs):
        root = write_tree(tmp_path / "build" / version / uuid.uuid4().hex, files, links, modes)
        kwargs.setdefault("log", lambda text: None)
        return upload_release(servers if targets is None else targets, deploy_path, version,
                              root, scan_tree(root), settings, str(tmp_path / "work"), **kwargs)
    return run


@pytest.fixture
def two_releases(upload):
    """V1 and V2 uploaded to every server (``a.txt``: "one", "two")."""
    for version, text in ((V1, "one"), (V2, "two")):
        assert all(r.ok for r in upload(version, {"a.txt": text}))


@pytest.fixture
def no_ssh(monkeypatch):
    """Any SSH connection fails the test (names must be refused before connecting)."""
    def refuse(*args):
        raise AssertionError("connected despite a bad name")

    monkeypatch.setattr("rds_ssh.workers.connect", refuse)
    monkeypatch.setattr("rds_ssh.workers.RemoteShell", refuse)


class Reporter:
    """Collects what an agent task reports (no broker needed here)."""

    def __init__(self):
        self.events, self.lines, self.steps = [], [], []
        self.run_id = uuid.uuid4().hex

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def started(self, redelivered=False):
        pass

    def event(self, schema, **fields):
        self.events.append((schema, fields))

    def line(self, text):
        self.lines.append(text)

    def log(self, text):
        self.lines.append(text)

    def tail(self, lines=20):
        return "".join(self.lines[-lines:])

    def step(self, name):
        self.steps.append(name)
        return contextlib.nullcontext()


def agent_settings(tmp_path, settings):
    return AgentSettings(work_dir=str(tmp_path / "agent"), run_dir=str(tmp_path / "agent/run"),
                         ssh_key_path=settings.key_path, known_hosts=settings.known_hosts_path,
                         host_key_policy="accept-new", script_timeout=60)
@pytest.fixture
def read_only(deploy_path):
    """``read_only(app_server)``: its deploy path refuses new entries (a switch there fails)."""
    made = []

    def make(server):
        path = server.path(deploy_path)
        os.chmod(path, 0o555)
        made.append(path)

    yield make
    for path in made:
        if os.path.isdir(path):
            os.chmod(path, 0o755)
