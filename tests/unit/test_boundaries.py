"""Agents never import the database layer (SPEC §1): they get everything in
the command and report everything back as events."""
import json
import subprocess
import sys

import pytest

AGENT_MODULES = ["rds_builder.service", "rds_activator.service", "rds_killer.service",
                 "rds_migrator.service", "rds_gc.service"]
FORBIDDEN = ("sqlalchemy", "psycopg2", "alembic", "rds_db", "rds_control", "flask", "rds_web")


@pytest.mark.parametrize("module", AGENT_MODULES)
def test_agent_services_do_not_load_the_database_layer(module):
    code = ("import json, sys, %s, rds_agent.build, rds_agent.activation, rds_ssh.upload, "
            "rds_ssh.activate, rds_agent.migrations, rds_ssh.remote; "
            "print(json.dumps(sorted(sys.modules)))" % module)
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                       capture_output=True, text=True).stdout)
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


@pytest.mark.parametrize("module", ["rds_ingest.service", "rds_pruner.service"])
def test_web_side_services_do_use_it(module):
    code = "import sys, %s; print('rds_db' in sys.modules)" % module
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip() == "True"
