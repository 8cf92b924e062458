"""Project scripts: environment, streamed output, failures, cancel, timeout."""
import threading
import uuid

import pytest

from rds_agent.run_records import TaskCancelled, TaskFiles
from rds_agent.script_runner import ScriptFailed, run_script


def run(body, tmp_path, **kwargs):
    chunks = []
    run_script("build", body, kwargs.pop("env", {}), str(tmp_path), chunks.append,
               str(tmp_path / "scratch"), **kwargs)
    return "".join(chunks)


def test_it_passes_the_environment_and_merges_stderr(tmp_path):
    out = run('echo "v=$version"; echo oops >&2', tmp_path, env={"version": "1.00.001.1"})
    assert out == "v=1.00.001.1\noops\n"


def test_a_script_without_shebang_stops_at_the_first_error(tmp_path):
    with pytest.raises(ScriptFailed, match="exited with status 7"):
        run("false || exit 7\necho never", tmp_path)
    with pytest.raises(ScriptFailed):
        run("false\necho never", tmp_path)


def test_exit_1_without_output_is_a_failure(tmp_path):
    with pytest.raises(ScriptFailed, match="status 1"):
        run("#!/bin/sh\nexit 1", tmp_path)


def test_output_arrives_while_the_script_runs(tmp_path):
    seen_first = threading.Event()
    release = tmp_path / "go"

    def output(text):
        if "first" in text:
            seen_first.set()
            release.write_text("go")
    body = 'echo first; while [ ! -e "%s" ]; do sleep 0.01; done; echo second' % release
    run_script("build", body, {}, str(tmp_path), output, str(tmp_path / "s"))
    assert seen_first.is_set()


def test_a_tombstone_stops_the_script_and_reports_cancelled(tmp_path):
    files = TaskFiles(str(tmp_path / "run"))
    task_id = uuid.uuid4().hex
    started = tmp_path / "started"

    def kill_when_started(text):
        if "started" in text:
            files.mark_cancelled(task_id)
            import os
            import signal
            os.killpg(files.running_pgid(task_id), signal.SIGTERM)
    with pytest.raises(TaskCancelled):
        run_script("build", "echo started; touch %s; sleep 30" % started, {}, str(tmp_path),
                   kill_when_started, str(tmp_path / "s"), task_files=files, task_id=task_id)
    assert files.running_pgid(task_id) == 0  # registered, no script running now


def test_a_task_cancelled_before_start_never_runs_its_script(tmp_path):
    files = TaskFiles(str(tmp_path / "run"))
    task_id = uuid.uuid4().hex
    files.mark_cancelled(task_id)
    marker = tmp_path / "ran"
    with pytest.raises(TaskCancelled):
        run("sleep 0.5; touch %s" % marker, tmp_path, task_files=files, task_id=task_id)
    assert not marker.exists()


def test_a_script_that_runs_too_long_is_killed(tmp_path):
    with pytest.raises(ScriptFailed, match="timed out"):
        run("sleep 30", tmp_path, timeout=0.3)
