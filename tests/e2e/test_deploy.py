"""End to end, through the HTTP API only: build once, ship to two real sshd
servers, activate atomically, release again, roll back."""
import os
import time
import uuid

import pytest

from rds_web.client import ApiError
from tests.e2e.helpers import activated, commit_page, installed, read_fifo

pytestmark = pytest.mark.e2e


def assert_live_everywhere(rds_system, name, version, text):
    for server in rds_system.app_servers:
        deploy = server.path("apps", name)
        assert os.readlink(os.path.join(deploy, "current")) == "releases/" + version
        with open(os.path.join(deploy, "current", "public", "index.html")) as handle:
            assert handle.read() == text, server.user


def test_it_builds_ships_activates_and_rolls_back(rds_system, project):
    api, (name, repo) = rds_system.api, project
    started = time.monotonic()

    v1 = installed(api, name, "first")
    assert v1["version"] == "1.00.001.1"
    assert {s["state"] for s in v1["servers"]} == {"ready"} and len(v1["servers"]) == 2
    log = api.get("/releases/%d?log=1" % v1["id"])["tasks"][0]["log"]
    assert "building %s 1.00.001.1 for: 127.0.0.1 127.0.0.1" % name in log
    assert "Cloning mirror" in log
    v1 = activated(api, v1["id"])
    assert_live_everywhere(rds_system, name, v1["version"], "hello from v1")
    first_deploy = time.monotonic() - started

    commit_page(repo, "hello from v2")
    v2 = installed(api, name, "second")
    log = api.get("/releases/%d?log=1" % v2["id"])["tasks"][0]["log"]
    assert "Updating mirror" in log and "Cloning mirror" not in log  # the mirror is reused
    activated(api, v2["id"])
    assert_live_everywhere(rds_system, name, v2["version"], "hello from v2")
    assert api.get("/releases/%d" % v1["id"])["status"] == "old"

    rolled_back = activated(api, v1["id"])  # rollback = activate an old release
    assert rolled_back["previous_version"] == v2["version"]
    assert_live_everywhere(rds_system, name, v1["version"], "hello from v1")
    assert api.get("/releases/%d" % v2["id"])["status"] == "old"
    # each server keeps both versions side by side, in its own home
    for server in rds_system.app_servers:
        assert sorted(os.listdir(server.path("apps", name, "releases"))) == [
            v1["version"], v2["version"]]
    print("\nfirst release built, shipped to 2 servers and activated in %.1fs" % first_deploy)


def test_revert_goes_back_to_the_version_live_before(rds_system, project):
    api, (name, repo) = rds_system.api, project
    v1 = activated(api, installed(api, name, "first")["id"])
    commit_page(repo, "hello again")
    v2 = activated(api, installed(api, name, "second")["id"])
    reverted = api.post("/projects/%s/revert" % name)
    assert reverted["version"] == v1["version"]
    api.wait_release(v1["id"], {"used"})
    assert_live_everywhere(rds_system, name, v1["version"], "hello from v1")
    assert api.get("/releases/%d" % v2["id"])["status"] == "old"


def test_a_failing_build_script_ends_failed_with_its_output(rds_system, project):
    api, (name, _) = rds_system.api, project
    api.request("PATCH", "/projects/%s" % name, {"scripts": {
        "build": "echo compiling things\necho 'error: the widget is broken' >&2\nexit 3\n"}})
    created = api.post("/projects/%s/releases" % name, {"comment": "broken"})
    failed = api.wait_release(created["id"], {"failed"}, timeout=120)
    assert "exited with status 3" in failed["last_error"]
    assert "error: the widget is broken" in failed["last_error"]
    log = api.get("/releases/%d?log=1" % failed["id"])["tasks"][0]["log"]
    assert "compiling things" in log and "error: the widget is broken" in log
    assert len(failed["tasks"]) == 1  # a broken build script is not retried automatically
    with pytest.raises(ApiError) as info:
        api.post("/releases/%d/activate" % failed["id"])
    assert info.value.status == 409


@pytest.mark.parametrize("field, value", [("name", "../escape"), ("deploy_path", "../../etc"),
                                          ("deploy_path", "/")])
def test_names_and_paths_that_escape_are_refused(rds_system, field, value):
    body = {"name": "escape-%s" % uuid.uuid4().hex[:6], "repository": "/tmp/x",
            "deploy_path": "apps/x", "servers": rds_system.server_specs(),
            "scripts": {"build": "true"}}
    body[field] = value
    with pytest.raises(ApiError) as info:
        rds_system.api.post("/projects", body)
    assert info.value.status == 400 and field in info.value.message
    names = [p["name"] for p in rds_system.api.get("/projects")["projects"]]
    assert body["name"] not in names


def test_cancel_kills_the_running_build_script(rds_system, project, tmp_path):
    api, (name, _) = rds_system.api, project
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"build": (
        "echo $$ > %s\nsleep 60\n" % fifo)}})
    created = api.post("/projects/%s/releases" % name, {"comment": "to cancel"})
    pid = int(read_fifo(fifo))  # the build script runs and says its pid
    assert api.get("/releases/%d" % created["id"])["status"] == "building"
    api.post("/releases/%d/cancel" % created["id"])
    cancelled = api.wait_release(created["id"], {"cancelled"}, timeout=60)
    assert cancelled["tasks"][0]["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the script's process group was killed
    log = api.get("/releases/%d?log=1" % created["id"])["tasks"][0]["log"]
    assert "Cancelled on request" in log
