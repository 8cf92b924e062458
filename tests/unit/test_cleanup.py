"""Cleaning an agent host's work directory (``rds_agent.cleanup``), on a real filesystem.

Ages come from an injected clock: ``NOW`` is far after every file's times, so
"old" and "fresh" are decided by the grace and idle limits alone.
"""
import fcntl
import json
import os
import time

import pytest

from rds_agent.cleanup import CleanupSettings, clean_mirrors, clean_work_dir, clean_workspaces
from rds_agent.run_records import TaskFiles

RUNNING = "a" * 32
FINISHED = "b" * 32


def make(path, text="x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return os.path.dirname(path)


@pytest.fixture
def work(tmp_path):
    files = TaskFiles(str(tmp_path / "run"))
    files.register(RUNNING)
    return str(tmp_path), files


def test_it_removes_workspaces_and_tars_of_tasks_not_running_here(work):
    work_dir, files = work
    running_ws = make(os.path.join(work_dir, "builds", "shop", "1.00.002.2-%s" % RUNNING[:8],
                                   "f"))
    finished_ws = make(os.path.join(work_dir, "builds", "shop", "1.00.001.1-%s"
                                    % FINISHED[:8], "f"))
    running_tar = make(os.path.join(work_dir, "uploads", RUNNING, "pack.tar"))
    finished_tar = make(os.path.join(work_dir, "uploads", FINISHED, "pack.tar"))

    report = clean_workspaces(work_dir, files.running_dir, now=time.time() + 10 * 3600,
                              grace=3600)

    assert sorted(report.removed) == sorted([finished_ws, finished_tar])
    assert os.path.isdir(running_ws) and os.path.isdir(running_tar)
    assert not os.path.exists(finished_ws) and not os.path.exists(finished_tar)


def test_a_fresh_workspace_is_kept_even_if_no_task_claims_it(work):
    work_dir, files = work
    fresh = make(os.path.join(work_dir, "builds", "shop", "1.00.003.3-%s" % ("c" * 32), "f"))
    report = clean_workspaces(work_dir, files.running_dir, now=time.time() + 60, grace=3600)
    assert report.removed == [] and os.path.isdir(fresh)


def test_an_empty_project_directory_goes_too(work):
    work_dir, files = work
    make(os.path.join(work_dir, "builds", "gone", "1.00.001.1-%s" % FINISHED[:8], "f"))
    clean_workspaces(work_dir, files.running_dir, now=time.time() + 10 * 3600, grace=3600)
    assert os.listdir(os.path.join(work_dir, "builds")) == []


def test_idle_mirrors_go_used_or_locked_ones_stay(work):
    work_dir, files = work
    idle = make(os.path.join(work_dir, "mirrors", "1" * 40 + ".git", "HEAD"))
    used = make(os.path.join(work_dir, "mirrors", "2" * 40 + ".git", "FETCH_HEAD"))
    locked = make(os.path.join(work_dir, "mirrors", "3" * 40 + ".git", "HEAD"))
    day = 86400
    old = time.time() - 30 * day
    for path in (idle, os.path.join(idle, "HEAD"), locked, os.path.join(locked, "HEAD")):
        os.utime(path, (old, old))
    os.utime(used, (old, old))  # the directory is old, but its last fetch is recent

    with open(locked + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build holds it right now
        report = clean_mirrors(work_dir, max_idle=14 * day)

    assert report.removed == [idle]
    assert os.path.isdir(used) and os.path.isdir(locked) and not os.path.exists(idle)


def test_one_pass_cleans_both(work):
    work_dir, files = work
    finished_tar = make(os.path.join(work_dir, "uploads", FINISHED, "pack.tar"))
    report = clean_work_dir(work_dir, files.running_dir,
                            CleanupSettings(grace=0, mirror_max_idle=1e9))
    assert report.removed == [finished_tar]


def test_settings_are_read_from_the_agent_settings():
    from rds_settings.nameko import SETTINGS_KEY
    from rds_settings.settings import SettingsError, load

    settings = CleanupSettings.from_config({SETTINGS_KEY: load(
        {"RDS_GC_WORKSPACE_GRACE": "60", "RDS_GC_MIRROR_MAX_IDLE_DAYS": "2"})})
    assert settings == CleanupSettings(grace=60.0, mirror_max_idle=2 * 86400.0)
    with pytest.raises(SettingsError, match="RDS_GC_WORKSPACE_GRACE"):
        load({"RDS_GC_WORKSPACE_GRACE": "-1"})


def test_a_workspace_named_by_a_run_of_a_running_task_is_kept(work):
    work_dir, files = work
    run_id = "d" * 32
    with open(os.path.join(files.running_dir, "e" * 32), "w") as handle:
        json.dump({"owner": os.getpid(), "pgid": None, "run_id": run_id}, handle)
    by_run = make(os.path.join(work_dir, "uploads", run_id, "pack.tar"))
    report = clean_workspaces(work_dir, files.running_dir, now=time.time() + 10 * 3600,
                              grace=3600)
    assert by_run not in report.removed and os.path.isdir(by_run)
