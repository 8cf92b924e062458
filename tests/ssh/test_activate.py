"""switch_servers, restore and read_current against two real sshd app servers."""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from rds_core.names import InvalidName
from rds_ssh.activate import read_current, restore, switch_servers
from rds_ssh.connection import RemoteShell
from rds_ssh.workers import close_idle_connections
from tests.ssh.conftest import R1, R2, V1, V2, on_disk, quiet


@pytest.fixture(autouse=True, params=["openssh", "paramiko"])
def transport(request, settings):
    """Every activation test runs over the system ssh client and over paramiko."""
    settings.transport = request.param
    return request.param


def test_it_switches_current_on_every_server(two_releases, servers, app_servers, deploy_path,
                                             settings):
    activation = switch_servers(servers, deploy_path, V1, settings, log=quiet)

    assert activation.ok and not activation.rolled_back
    assert [(r.ok, r.previous, r.current) for r in activation.results] == [(True, None, R1)] * 2
    assert on_disk(app_servers, deploy_path) == [R1, R1]
    assert [read_current(s, deploy_path, settings) for s in servers] == [R1, R1]
    with open(app_servers[0].path(deploy_path, "current", "a.txt")) as handle:
        assert handle.read() == "one"
    assert all(sorted(os.listdir(s.path(deploy_path))) == ["current", "releases", "shared"]
               for s in app_servers)  # no temporary symlink left


def test_activating_an_older_version_rolls_back(two_releases, servers, app_servers,
                                                deploy_path, settings):
    assert switch_servers(servers, deploy_path, V2, settings, log=quiet).ok
    activation = switch_servers(servers, deploy_path, V1, settings, log=quiet)
    assert activation.ok
    assert [(r.previous, r.current) for r in activation.results] == [(R2, R1)] * 2
    assert on_disk(app_servers, deploy_path) == [R1, R1]


def test_a_server_without_the_release_switches_nothing(upload, servers, app_servers,
                                                       deploy_path, settings):
    upload(V1, {"a.txt": "one"})
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    upload(V2, {"a.txt": "two"}, targets=servers[:1])

    activation = switch_servers(servers, deploy_path, V2, settings, log=quiet)
    assert not activation.ok and not activation.rolled_back
    assert servers[1].label in activation.reason and "not uploaded" in activation.reason
    assert [r.ok for r in activation.results] == [False, False]
    assert on_disk(app_servers, deploy_path) == [R1, R1]


def test_a_real_directory_at_current_is_refused(two_releases, servers, app_servers,
                                                deploy_path, settings):
    os.makedirs(app_servers[1].path(deploy_path, "current"))
    activation = switch_servers(servers, deploy_path, V1, settings, log=quiet)
    assert not activation.ok and not activation.rolled_back
    assert "not a symlink" in activation.results[1].error
    assert not os.path.lexists(app_servers[0].path(deploy_path, "current"))


def test_a_failed_switch_switches_the_others_back(two_releases, servers, app_servers,
                                                  deploy_path, settings, read_only):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    read_only(app_servers[1])
    lines = []
    activation = switch_servers(servers, deploy_path, V2, settings, log=lines.append)

    assert not activation.ok and activation.rolled_back
    assert "Permission denied" in activation.reason
    assert [(r.ok, r.previous, r.current) for r in activation.results] == [(False, R1, R1)] * 2
    assert "Permission denied" in activation.results[1].error
    assert on_disk(app_servers, deploy_path) == [R1, R1]
    assert any("%s: current -> %s (switched back)" % (servers[0].label, R1) in line
               for line in lines)
    assert all(sorted(os.listdir(s.path(deploy_path))) == ["current", "releases", "shared"]
               for s in app_servers)


def test_a_failed_first_activation_removes_current_again(two_releases, servers, app_servers,
                                                         deploy_path, settings, read_only):
    read_only(app_servers[0])
    activation = switch_servers(servers, deploy_path, V2, settings, log=quiet)
    assert not activation.ok and activation.rolled_back
    assert [(r.previous, r.current) for r in activation.results] == [(None, None)] * 2
    assert on_disk(app_servers, deploy_path) == [None, None]


def test_restore_switches_back_to_given_targets(two_releases, servers, app_servers,
                                                deploy_path, settings):
    assert switch_servers(servers, deploy_path, V2, settings, log=quiet).ok
    results = restore([(servers[0], R1), (servers[1], None)], deploy_path, settings, log=quiet)
    assert [(r.ok, r.previous, r.current) for r in results] == [(True, R2, R1), (True, R2, None)]
    assert on_disk(app_servers, deploy_path) == [R1, None]
    assert read_current(servers[1], deploy_path, settings) is None


def test_current_never_disappears_while_switching(two_releases, servers, app_servers,
                                                  deploy_path, settings):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    watched = [s.path(deploy_path, "current") for s in app_servers]
    stop, seen, missing = threading.Event(), set(), []

    def poll():
        while not stop.is_set():
            for path in watched:
                if not os.path.exists(path):
                    missing.append(path)
                try:
                    seen.add(os.readlink(path))
                except OSError:
                    missing.append(path)
            time.sleep(0)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for i in range(30):
            version = V2 if i % 2 == 0 else V1
            assert switch_servers(servers, deploy_path, version, settings, log=quiet).ok
    finally:
        stop.set()
        poller.join()
    assert missing == []
    assert seen == {R1, R2}


@pytest.mark.parametrize("deploy_path_, version", [("../etc", V1), ("apps/x", "../../x")])
def test_bad_names_are_refused_before_any_ssh(deploy_path_, version, servers, settings,
                                              no_ssh):
    with pytest.raises(InvalidName):
        switch_servers(servers, deploy_path_, version, settings)
    with pytest.raises(InvalidName):
        restore([(servers[0], R1)], deploy_path_ if version == V1 else "../x", settings)
    with pytest.raises(InvalidName):
        read_current(servers[0], "../etc", settings)


def test_connections_outlive_the_task_for_the_next_one(two_releases, servers, app_servers,
                                                       deploy_path, settings, transport,
                                                       monkeypatch):
    if transport != "openssh":
        pytest.skip("ControlMaster connections belong to the system ssh client")
    settings.control_dir = tempfile.mkdtemp(prefix="rds-ctl-")
    try:
        assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
        sockets = [os.path.join(settings.control_dir, name)
                   for name in os.listdir(settings.control_dir)]
        assert len(sockets) == 2
        for socket_path in sockets:  # the masters are still up after the task ended
            check = subprocess.run(["ssh", "-O", "check", "-o", "ControlPath=%s" % socket_path,
                                    "unused"], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr

        def no_new_connection(*args, **kwargs):
            raise AssertionError("connected again instead of reusing the idle connection")

        monkeypatch.setattr(RemoteShell, "__init__", no_new_connection)
        assert switch_servers(servers, deploy_path, V2, settings, log=quiet).ok
        assert on_disk(app_servers, deploy_path) == [R2, R2]
    finally:
        monkeypatch.undo()
        close_idle_connections()
        for name in os.listdir(settings.control_dir):
            subprocess.run(["ssh", "-O", "exit", "-o", "ControlPath=%s" % os.path.join(
                settings.control_dir, name), "unused"], capture_output=True)
        shutil.rmtree(settings.control_dir, ignore_errors=True)
