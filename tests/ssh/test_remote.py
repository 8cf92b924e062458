"""rds_ssh.remote against a real sshd: a script streams its output, gets its
environment and directory, and its whole process group can be killed; an
orphan still holding the lock keeps the next script from running beside it."""
import threading

import pytest

from rds_ssh import remote
from rds_ssh.connection import connect
from tests.e2e.helpers import read_fifo


def run(session, deploy_path, body, output, is_cancelled=lambda: False, task="a" * 32,
        env=None, timeout=60):
    session.makedirs(session.abs(deploy_path + "/releases/1.00.001.1"))
    return remote.run_long_script(session, deploy_path, deploy_path + "/releases/1.00.001.1",
                                  "migration", task, body,
                                  env or {"migrationName": "0001 x'y"}, output, is_cancelled,
                                  timeout=timeout, poll=0.05)


def test_it_streams_output_with_the_environment_in_the_release_directory(
        servers, settings, deploy_path):
    chunks = []
    with connect(servers[0], settings) as session:
        outcome = run(session, deploy_path, "echo \"$migrationName\"; pwd; echo err >&2; exit 4",
                      chunks.append)
        leftovers = session.run("ls -A %s/.rds" % session.abs(deploy_path))[1]
    text = "".join(chunks)
    assert outcome.exit_status == 4 and outcome.started and not outcome.cancelled
    assert text.startswith("0001 x'y\n/home/rdsapp1/%s/releases/1.00.001.1\n" % deploy_path)
    assert "err" in text and remote.PGID_MARK not in text
    # the script and its pgid file are gone; its exit status stays (duplicates read it)
    assert sorted(leftovers.split()) == ["migration-%s.status" % ("a" * 32), "migration.lock"]


def test_a_duplicated_command_of_a_task_that_ran_does_not_run_the_script_again(
        servers, settings, deploy_path):
    body = "echo ran >> ../../runs; exit 3"
    with connect(servers[0], settings) as session:
        first = run(session, deploy_path, body, lambda t: None, task="d" * 32)
        again = run(session, deploy_path, body, lambda t: None, task="d" * 32)
        other = run(session, deploy_path, body, lambda t: None, task="e" * 32)
        runs = session.run("cat %s/runs" % session.abs(deploy_path))[1]
    assert (first.exit_status, first.already_ran) == (3, False)
    assert (again.exit_status, again.already_ran, again.started) == (3, True, False)
    assert other.exit_status == 3 and not other.already_ran  # another task does run
    assert runs == "ran\nran\n"


def test_cancel_kills_the_whole_process_group_on_the_server(servers, settings, deploy_path,
                                                            app_servers):
    chunks, cancel = [], threading.Event()

    def output(text):
        chunks.append(text)
        if "started" in text:
            cancel.set()
    with connect(servers[0], settings) as session:
        outcome = run(session, deploy_path, "sleep 300 & echo \"started $!\"; wait", output,
                      cancel.is_set)
        child = "".join(chunks).split("started ")[1].split()[0]
        assert outcome.cancelled and outcome.exit_status != 0
        # the background child died too (gone, or a zombie waiting to be reaped)
        state = session.run("cut -d' ' -f3 /proc/%s/stat 2>/dev/null || echo gone" % child)[1]
        assert state.strip() in ("gone", "Z"), state


def test_an_orphan_holding_the_lock_keeps_the_next_script_out(servers, settings, deploy_path,
                                                              monkeypatch, tmp_path):
    import os
    import tempfile

    shared = tempfile.mkdtemp(prefix="rds-remote-")
    os.chmod(shared, 0o755)
    fifo = os.path.join(shared, "up")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    stop = threading.Event()
    first = {}

    def hold():
        with connect(servers[0], settings) as session:
            first["outcome"] = run(session, deploy_path, "echo up > %s; sleep 300" % fifo,
                                   lambda text: None, stop.is_set, task="b" * 32)
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        read_fifo(fifo, timeout=30)
        monkeypatch.setattr(remote, "LOCK_WAIT", 1)
        with connect(servers[0], settings) as session:
            second = run(session, deploy_path, "echo should not run", lambda t: None,
                         task="c" * 32)
        assert second.exit_status == remote.LOCKED and not second.started
    finally:
        stop.set()
        holder.join(30)
    assert first["outcome"].cancelled
    os.unlink(fifo)
    os.rmdir(shared)


@pytest.mark.parametrize("body", ["exit 0", "#!/bin/sh\nexit 0\n"])
def test_a_script_with_or_without_a_shebang_runs(servers, settings, deploy_path, body):
    with connect(servers[0], settings) as session:
        assert run(session, deploy_path, body, lambda t: None).exit_status == 0
