"""The local launcher behind `make up`/`make status`: it says what runs where,
exits non-zero when something is stopped, and never claims to have started a
service that kept running old code."""
import subprocess
import sys

import pytest

from rds_testing import localrun

pytestmark = pytest.mark.e2e


def launcher(*args):
    return subprocess.run([sys.executable, "-m", "rds_testing.localrun", *args],
                          capture_output=True, text=True, timeout=60)


def test_status_lists_pids_logs_and_the_web_url(rds_system):
    result = launcher("status", "--var-dir", rds_system.var_dir)
    assert result.returncode == 0, result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) == set(localrun.ALL_SERVICES)
    assert all(" running " in line and " pid " in line for line in lines.values())
    assert rds_system.url + "/" in lines["web"]


def test_status_of_nothing_running_exits_3(tmp_path):
    result = launcher("status", "--var-dir", str(tmp_path))
    assert result.returncode == 3
    assert all(" stopped " in line for line in result.stdout.splitlines())


def test_start_keeps_running_services_and_says_so(rds_system):
    outcome = localrun.start(rds_system.var_dir, rds_system.env, services=("ingest",))
    assert outcome == {"ingest": "kept"}
