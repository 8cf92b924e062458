"""An agent killed mid-build loses nothing: the broker hands the command to
the next builder, which takes the task over and finishes it."""
import os
import signal

import pytest

from rds_testing import localrun
from tests.e2e.helpers import read_fifo

pytestmark = pytest.mark.e2e


def builder_pid(rds_system):
    with open(os.path.join(rds_system.var_dir, "run", "builder.pid")) as handle:
        return int(handle.read())


def test_a_builder_killed_mid_build_is_replaced_and_the_build_finishes(rds_system, project,
                                                                       tmp_path):
    api, (name, _) = rds_system.api, project
    started, go = tmp_path / "started", tmp_path / "go"
    os.mkfifo(started)
    os.mkfifo(go)
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"build": (
        "echo $$ > %s\nread line < %s\nmkdir -p public\necho resilient > public/index.html\n"
        % (started, go))}})
    created = api.post("/projects/%s/releases" % name, {"comment": "survives a crash"})
    first_script = int(read_fifo(started))
    first_agent = api.get("/releases/%d" % created["id"])["tasks"][0]["agent"]

    builder = builder_pid(rds_system)
    os.killpg(builder, signal.SIGKILL)  # the builder dies mid-build
    os.killpg(first_script, signal.SIGKILL)  # ... and so does its orphaned script
    os.waitpid(builder, 0)
    localrun.start(rds_system.var_dir, rds_system.env, services=("builder",))

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
