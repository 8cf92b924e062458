"""TaskReporter numbers events, batches output, and flushes before status events."""
import uuid

from rds_agent.reporting import TaskReporter
from rds_contracts.agents import TaskLog, TaskStarted, TaskStep
from rds_contracts.base import MAX_LOG_CHUNK
from rds_contracts.builder import BuildCancelled


def make_reporter():
    sent = []
    return TaskReporter(sent.append, uuid.uuid4().hex, "host/builder/1", flush_interval=60), sent


def test_events_are_numbered_from_one_within_a_run():
    reporter, sent = make_reporter()
    reporter.started()
    with reporter.step("build"):
        pass
    assert [e.seq for e in sent] == [1, 2, 3]
    assert isinstance(sent[0], TaskStarted) and isinstance(sent[1], TaskStep)
    assert {e.run_id for e in sent} == {reporter.run_id}


def test_output_is_flushed_before_the_next_event():
    reporter, sent = make_reporter()
    reporter.log("line 1\n")
    reporter.log("line 2\n")
    reporter.event(BuildCancelled)
    assert isinstance(sent[0], TaskLog) and sent[0].text == "line 1\nline 2\n"
    assert isinstance(sent[1], BuildCancelled)


def test_long_output_is_split_into_bounded_chunks():
    reporter, sent = make_reporter()
    reporter.log("x" * (2 * MAX_LOG_CHUNK + 10))
    reporter.flush()
    assert [len(e.text) for e in sent] == [MAX_LOG_CHUNK, MAX_LOG_CHUNK, 10]


def test_a_failed_publish_keeps_the_output_for_the_next_flush():
    attempts = []

    def flaky(event):
        attempts.append(event)
        if len(attempts) == 1:
            raise ConnectionError("broker away")
    reporter = TaskReporter(flaky, uuid.uuid4().hex, "a", flush_interval=60)
    reporter.log("kept\n")
    try:
        reporter.flush()
    except ConnectionError:
        pass
    reporter.flush()
    assert attempts[-1].text == "kept\n"


def test_tail_keeps_the_last_lines():
    reporter, _ = make_reporter()
    for i in range(100):
        reporter.line("line %d" % i)
    assert reporter.tail(2) == "line 98\nline 99"


def test_the_background_flush_keeps_a_fresh_partial_line_back():
    reporter, sent = make_reporter()
    reporter.log("cp: ")
    reporter.flush(whole_lines=True)
    assert sent == []
    reporter.log("cannot stat\nnext ")
    reporter.flush(whole_lines=True)
    assert [e.text for e in sent] == ["cp: cannot stat\n"]
    reporter.flush()  # an explicit flush (before an event, at the end) sends everything
    assert sent[-1].text == "next "


def test_a_partial_line_that_waited_long_enough_is_sent():
    sent = []
    reporter = TaskReporter(sent.append, uuid.uuid4().hex, "a", flush_interval=60,
                            partial_line_wait=0)
    reporter.log("progress 10%")
    reporter.flush(whole_lines=True)
    assert [e.text for e in sent] == ["progress 10%"]
