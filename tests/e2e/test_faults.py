"""Nothing stuck, nothing lost, nothing run twice (issue 11), with every service a real
process, real RabbitMQ and real sshd app servers.

Each test injects one fault the way it happens in production: broker
connections dropped (what a broker restart does to rds), a stale command left in
a queue, the killer restarted while cancels are pending, an event the database
cannot store, and an activation asked for while the next version is uploading.
"""
import os
import shutil

import pytest

from rds_bus import topology
from rds_bus.entrypoints import REASON_HEADER
from rds_bus.publish import BusPublisher
from rds_contracts import agents
from rds_web.client import ApiError
from tests.e2e.faults import (
    broker_away,
    broker_back,
    dead_letter_for,
    drop_broker_connections,
    installed_build,
    start,
    stop,
    wait_exit,
    wait_log,
    wait_until,
)
from tests.e2e.helpers import installed, read_fifo

pytestmark = pytest.mark.e2e


def fifos(tmp_path, *names):
    paths = [tmp_path / name for name in names]
    for path in paths:
        os.mkfifo(path)
    return paths


def set_build_script(api, name, script):
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"build": script}})


def paused_build(api, name, tmp_path, comment, then):
    """Start a build whose script counts its runs (in the returned ``runs`` file), waits
    for ``go()`` and then runs ``then``; returns (created release, its task id, go, runs)
    once the script has started."""
    started, go_fifo = fifos(tmp_path, "started", "go")
    runs = tmp_path / "runs"
    set_build_script(api, name, "echo run >> %s\necho $$ > %s\nread line < %s\n%s"
                     % (runs, started, go_fifo, then))
    created = api.post("/projects/%s/releases" % name, {"comment": comment})
    read_fifo(started)
    task_id = api.get("/releases/%d" % created["id"])["tasks"][0]["id"]

    def go():
        with open(go_fifo, "w") as handle:
            handle.write("go\n")
    return created, task_id, go, runs


def release_dirs(rds_system, name):
    found = set()
    for server in rds_system.app_servers:
        path = server.path("apps", name, "releases")
        found |= set(os.listdir(path)) if os.path.isdir(path) else set()
    return found


def test_dropped_broker_connections_mid_build_run_the_build_once(rds_system, project, tmp_path):
    api, (name, _) = rds_system.api, project
    created, task_id, go, runs = paused_build(
        api, name, tmp_path, "broker drops", "mkdir -p public\necho once > public/index.html\n")

    drop_broker_connections(rds_system)  # the build command comes back to the builder
    wait_log(rds_system, "builder", "dropped the command: task %s is already running" % task_id)
    go()

    release = api.wait_release(created["id"], {"installed"}, timeout=60)
    assert [t["status"] for t in release["tasks"]] == ["succeeded"]
    assert runs.read_text() == "run\n"  # the script ran once
    for server in rds_system.app_servers:
        with open(server.path("apps", name, "releases", release["version"], "public",
                              "index.html")) as handle:
            assert handle.read() == "once\n"


def test_a_build_waits_for_the_broker_to_come_back_instead_of_failing(rds_system, project,
                                                                     tmp_path):
    api, (name, _) = rds_system.api, project
    created, task_id, go, runs = paused_build(
        api, name, tmp_path, "broker away",
        "echo built while the broker was away\nmkdir -p public\necho patient > public/index.html\n")
    broker_away(rds_system)
    try:
        go()
        # its next event waits for the broker (the builder logs each attempt)
        wait_log(rds_system, "builder", "of task %s failed" % task_id)
    finally:
        broker_back(rds_system)
    release = api.wait_release(created["id"], {"installed"}, timeout=90)
    assert [t["status"] for t in release["tasks"]] == ["succeeded"]
    assert runs.read_text() == "run\n"
    log = api.get("/releases/%d?log=1" % created["id"])["tasks"][0]["log"]
    assert "built while the broker was away" in log


def test_a_command_for_a_release_cancelled_while_queued_never_runs(rds_system, project,
                                                                   tmp_path):
    api, (name, _) = rds_system.api, project
    marker = tmp_path / "ran"
    set_build_script(api, name, "touch %s\nmkdir -p public\necho x > public/index.html\n"
                     % marker)
    stop(rds_system, "builder")
    try:
        created = api.post("/projects/%s/releases" % name, {"comment": "stale"})
        cancelled = api.post("/releases/%d/cancel" % created["id"])
        assert cancelled["status"] == "cancelled"
        task_id = api.get("/releases/%d" % created["id"])["tasks"][0]["id"]
    finally:
        start(rds_system, "builder")  # it finds the build command waiting in its queue
    wait_log(rds_system, "builder", "dropped the command: task %s already ended" % task_id)
    assert not marker.exists()
    assert api.get("/releases/%d" % created["id"])["status"] == "cancelled"
    assert created["version"] not in release_dirs(rds_system, name)


def test_cancels_sent_while_the_killer_restarts_are_not_lost(rds_system, project, tmp_path):
    api, (name, _) = rds_system.api, project
    (started,) = fifos(tmp_path, "started")
    set_build_script(api, name, "echo $$ > %s\nexec sleep 300\n" % started)
    stop(rds_system, "killer")
    try:
        created = api.post("/projects/%s/releases" % name, {"comment": "cancel me"})
        script = int(read_fifo(started))
        assert api.post("/releases/%d/cancel" % created["id"])["status"] == "cancelling"
    finally:
        start(rds_system, "killer")  # a new process: it must still get the cancel
    cancelled = api.wait_release(created["id"], {"cancelled"}, timeout=30)
    wait_exit(script, timeout=10)
    assert [t["status"] for t in cancelled["tasks"]] == ["cancelled"]
    log = api.get("/releases/%d?log=1" % created["id"])["tasks"][0]["log"]
    assert "Cancelled on request" in log


def test_an_out_of_range_event_is_dead_lettered_with_the_reason(rds_system, project):
    name, _ = project
    _, task_id, run_id = installed_build(rds_system, name, "out of range")
    body = {"task_id": task_id, "run_id": run_id, "seq": 2**31, "text": "overflow\n",
            "at": "2026-01-01T00:00:00Z"}
    BusPublisher(rds_system.env["RDS_AMQP_URI"],
                 event_key=rds_system.env["RDS_BUS_EVENT_KEY"]).publish_raw(
        topology.EVENTS_EXCHANGE, agents.TASK_LOG, agents.TASK_LOG, body)
    dead = dead_letter_for(rds_system, task_id)
    assert "seq" in dead.headers[REASON_HEADER]
    assert "less than or equal to 2147483647" in dead.headers[REASON_HEADER]


def test_an_activation_never_picks_up_a_release_still_being_built_or_uploaded(
        rds_system, project, tmp_path):
    api, (name, _) = rds_system.api, project
    v1 = api.post("/projects/%s/releases" % name, {"comment": "v1"})
    v1 = api.wait_release(v1["id"], {"installed"}, timeout=60)
    v2, _, go, _ = paused_build(api, name, tmp_path, "v2",
                                "mkdir -p public\necho v2 > public/index.html\n")
    with pytest.raises(ApiError) as info:
        api.post("/releases/%d/activate" % v2["id"])
    assert info.value.status == 409 and "only installed or old" in info.value.message
    # a rollback (here: the first activation) never waits for the next build
    api.post("/releases/%d/activate" % v1["id"])
    api.wait_release(v1["id"], {"used"}, timeout=60)
    go()
    api.wait_release(v2["id"], {"installed"}, timeout=60)
    api.post("/releases/%d/activate" % v2["id"])
    api.wait_release(v2["id"], {"used"}, timeout=60)
    for server in rds_system.app_servers:
        with open(server.path("apps", name, "current", "public", "index.html")) as handle:
            assert handle.read() == "v2\n"


def test_a_partial_install_is_completed_on_the_missing_servers(rds_system, project):
    api, (name, _) = rds_system.api, project
    good, bad = rds_system.app_servers
    api.request("PATCH", "/projects/%s" % name, {"upload_max_failures": 1})
    apps = bad.path("apps")
    os.makedirs(apps, exist_ok=True)
    shutil.chown(apps, bad.user, bad.user)
    blocker = bad.path("apps", name)
    with open(blocker, "w") as handle:  # the deploy path cannot be created there
        handle.write("in the way\n")
    release = installed(api, name, "partial", timeout=60)
    states = {s["server"]: s["state"] for s in release["servers"]}
    assert states == {"%s@127.0.0.1:%d" % (good.user, good.port): "ready",
                      "%s@127.0.0.1:%d" % (bad.user, bad.port): "failed"}
    activate = release["actions"]["activate"]
    assert not activate["allowed"] and "not ready on %s" % bad.user in activate["reason"]
    assert release["actions"]["install_missing"]["allowed"]
    with pytest.raises(ApiError) as info:
        api.post("/releases/%d/activate" % release["id"])
    assert info.value.status == 409

    os.unlink(blocker)
    api.post("/releases/%d/install-missing" % release["id"])
    done = wait_until(lambda: (lambda r: r if r["tasks"][-1]["status"] == "succeeded" else None)(
        api.get("/releases/%d" % release["id"])), "installing on the missing server")
    assert {s["state"] for s in done["servers"]} == {"ready"} and done["status"] == "installed"
    assert [t["status"] for t in done["tasks"]] == ["succeeded", "succeeded"]
    api.post("/releases/%d/activate" % release["id"])
    api.wait_release(release["id"], {"used"}, timeout=60)
    for server in rds_system.app_servers:
        assert os.readlink(server.path("apps", name, "current")) == "releases/" + \
            release["version"]
