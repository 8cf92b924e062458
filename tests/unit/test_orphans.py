"""Scripts never outlive their agent: the host reaper kills the process groups of
runs whose agent process is gone, and leaves live runs alone."""
import json
import os
import subprocess

from rds_agent.run_records import TaskFiles


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def record(files, task_id, owner, pgid):
    with open(os.path.join(files.running_dir, task_id), "w") as handle:
        json.dump({"owner": owner, "pgid": pgid}, handle)


def test_the_scripts_of_a_dead_agent_are_killed_and_forgotten(tmp_path):
    files = TaskFiles(str(tmp_path))
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    alive = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record(files, "a" * 32, dead_pid(), orphan.pid)
        record(files, "b" * 32, os.getpid(), alive.pid)
        assert files.reap_orphans() == ["a" * 32]
        assert orphan.wait(timeout=10) == -9
        assert alive.poll() is None and files.running_pgid("b" * 32) == alive.pid
        assert files.running_pgid("a" * 32) is None
    finally:
        for process in (orphan, alive):
            process.kill()
            process.wait()


def test_a_new_run_of_the_task_kills_what_the_dead_run_left(tmp_path):
    files = TaskFiles(str(tmp_path))
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record(files, "c" * 32, dead_pid(), orphan.pid)
        files.register("c" * 32)
        assert orphan.wait(timeout=10) == -9
        assert files.running_pgid("c" * 32) == 0  # now this process's run
    finally:
        orphan.kill()
        orphan.wait()


def test_runs_of_another_pid_namespace_are_left_alone(tmp_path):
    files = TaskFiles(str(tmp_path))
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        with open(os.path.join(files.running_dir, "d" * 32), "w") as handle:
            json.dump({"owner": dead_pid(), "pgid": other.pid, "pidns": "pid:[1]"}, handle)
        assert files.reap_orphans() == [] and files.running_pgid("d" * 32) == other.pid
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
