"""The gc agent never imports the database layer: everything it needs comes in the
command, everything it finds goes back as events (SPEC §1)."""
import json
import subprocess
import sys

from tests.unit.test_boundaries import FORBIDDEN


def test_the_gc_agent_and_its_jobs_do_not_load_the_database_layer():
    code = ("import json, sys, rds_gc.service, rds_agent.removal, rds_agent.cleanup, "
            "rds_ssh.remove; print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                       capture_output=True, text=True).stdout)
    assert "rds_ssh.remove" in loaded
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
