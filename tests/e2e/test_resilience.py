"""An agent killed mid-build loses nothing and leaves nothing behind: its scripts
die with it, the broker hands the command to the next builder, which takes the
task over and finishes it."""
import os
import signal

import pytest

from tests.e2e.faults import service_pid, start, wait_exit
from tests.e2e.helpers import read_fifo

pytestmark = pytest.mark.e2e


def test_a_builder_killed_mid_build_leaves_no_orphans_and_is_replaced(rds_system, project,
                                                                      tmp_path):
    api, (name, _) = rds_system.api, project
    started, go = tmp_path / "started", tmp_path / "go"
    os.mkfifo(started)
    os.mkfifo(go)
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"build": (
        "sleep 300 >/dev/null 2>&1 &\necho $$ $! > %s\nread line < %s\nmkdir -p public\n"
        "echo resilient > public/index.html\n" % (started, go))}})
    created = api.post("/projects/%s/releases" % name, {"comment": "survives a crash"})
    script, background = (int(pid) for pid in read_fifo(started).split())
    first_agent = api.get("/releases/%d" % created["id"])["tasks"][0]["agent"]

    builder = service_pid(rds_system, "builder")
    os.killpg(builder, signal.SIGKILL)  # the builder dies mid-build
    os.waitpid(builder, 0)
    wait_exit(script, timeout=10)  # its script dies with it (PR_SET_PDEATHSIG) ...
    wait_exit(background, timeout=10)  # ... and what the script started (orphan reaper)
    start(rds_system, "builder")

    read_fifo(started)  # the new builder runs the build again
    with open(go, "w") as handle:  # blocks until the script reads
        handle.write("go\n")
    release = api.wait_release(created["id"], {"installed"}, timeout=120)
    task = release["tasks"][0]
    assert len(release["tasks"]) == 1 and task["status"] == "succeeded"
    assert task["agent"] != first_agent  # the same task, taken over by the new copy
    for server in rds_system.app_servers:
        path = server.path("apps", name, "releases", release["version"], "public", "index.html")
        with open(path) as handle:
            assert handle.read() == "resilient\n"
