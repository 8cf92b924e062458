"""Every task ends, even when its agent is alive and says nothing more: a lost last
report and a hung script both end the task, and the automatic retry finishes the
release. The pruner runs here with short limits (restored afterwards)."""
import os

import pytest
from kombu import Connection

from rds_bus import topology
from rds_contracts import builder
from tests.e2e.faults import start, stop, wait_exit
from tests.e2e.helpers import read_fifo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def short_limits(rds_system):
    stop(rds_system, "pruner")
    start(rds_system, "pruner", RDS_LOST_TASK_GRACE="2", RDS_TASK_DEADLINE_BUILD="15")
    yield
    stop(rds_system, "pruner")
    start(rds_system, "pruner")


def take_final_event(amqp_uri, task_id, timeout=60):
    """Consume ingest's queue (ingest is stopped) until the task's build_finished:
    that one is lost (acked); everything else goes back when the queue closes."""
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(topology.INGEST_QUEUE)
        try:
            while True:
                message = queue.get(block=True, timeout=timeout)
                if (message.headers.get(topology.TYPE_HEADER) == builder.BUILD_FINISHED
                        and message.payload["task_id"] == task_id):
                    message.ack()
                    return message.payload
        finally:
            queue.close()


def test_a_task_whose_last_report_is_lost_ends_while_its_agent_lives(rds_system, project,
                                                                     short_limits):
    api, (name, _) = rds_system.api, project
    stop(rds_system, "ingest")
    try:
        created = api.post("/projects/%s/releases" % name, {"comment": "lost report"})
        task_id = api.get("/releases/%d" % created["id"])["tasks"][0]["id"]
        take_final_event(rds_system.env["RDS_AMQP_URI"], task_id)
    finally:
        start(rds_system, "ingest")
    release = api.wait_release(created["id"], {"installed"}, timeout=60)
    first, retry = release["tasks"]
    assert first["status"] == "failed"
    assert "no longer runs the task; its last report was lost" in first["error"]
    assert retry["status"] == "succeeded"  # the automatic second attempt


def test_a_hung_build_ends_at_its_deadline_and_its_script_is_killed(rds_system, project,
                                                                    tmp_path, short_limits):
    api, (name, _) = rds_system.api, project
    started, once = tmp_path / "started", tmp_path / "once"
    os.mkfifo(started)
    api.request("PATCH", "/projects/%s" % name, {"scripts": {"build": (
        "if [ ! -e %s ]; then touch %s; echo $$ > %s; exec sleep 300; fi\n"
        "mkdir -p public\necho late > public/index.html\n" % (once, once, started))}})
    created = api.post("/projects/%s/releases" % name, {"comment": "hangs once"})
    script = int(read_fifo(started))
    release = api.wait_release(created["id"], {"installed"}, timeout=60)
    first, retry = release["tasks"]
    assert first["status"] == "failed" and "exceeded its deadline of 15 s" in first["error"]
    assert retry["status"] == "succeeded"
    wait_exit(script, timeout=10)  # the reaper's cancel reached the killer
