"""The reporter publishes what can be stored, never gives up on an event, and claims
irreversible steps before it starts them."""
import uuid

import pytest

from rds_agent.reporting import TaskReporter
from rds_contracts.agents import TaskLog, TaskStarted, TaskStep
from rds_contracts.builder import BuildFailed, BuildFinished


def test_output_is_sanitised_before_it_is_published():
    sent = []
    reporter = TaskReporter(sent.append, uuid.uuid4().hex, "h/builder/1", flush_interval=60)
    reporter.log("a\x00b \udcff c\n")
    reporter.event(BuildFailed, phase="build", reason="died \x00 here")
    assert sent[0].text == "a\ufffdb \ufffd c\n"
    assert sent[1].reason == "died \ufffd here"


def test_a_publish_that_fails_is_retried_until_the_broker_confirms():
    sent, waits = [], []

    def flaky(event):
        if len(waits) < 3:
            raise ConnectionError("broker away")
        sent.append(event)

    reporter = TaskReporter(flaky, uuid.uuid4().hex, "h/builder/1", flush_interval=60,
                            sleep=waits.append)
    reporter.event(BuildFinished, servers=[])
    assert [type(e) for e in sent] == [BuildFinished] and sent[0].seq == 1
    assert waits == sorted(waits) and len(waits) == 3  # backing off


def test_it_claims_before_it_starts_and_before_each_irreversible_step():
    sent, claims = [], []

    def claim(task_id, run_id, step, redelivered=False):
        claims.append((step, redelivered))
        return 7

    reporter = TaskReporter(sent.append, uuid.uuid4().hex, "h/builder/1", flush_interval=60,
                            claim=claim)
    reporter.started(redelivered=True)
    with reporter.step("build"):
        pass
    with reporter.step("upload"):
        pass
    assert claims == [("start", True), ("upload", False)] and reporter.token == 7
    assert isinstance(sent[0], TaskStarted) and isinstance(sent[1], TaskStep)


def test_a_refused_claim_publishes_nothing():
    class Refused(Exception):
        pass

    def claim(task_id, run_id, step, redelivered=False):
        raise Refused("task ended")

    sent = []
    reporter = TaskReporter(sent.append, uuid.uuid4().hex, "h/builder/1", flush_interval=60,
                            claim=claim)
    with pytest.raises(Refused):
        reporter.started()
    with pytest.raises(Refused), reporter.step("switch"):
        pass
    assert not [e for e in sent if not isinstance(e, TaskLog)]
