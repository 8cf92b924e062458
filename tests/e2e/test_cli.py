"""The ``rds`` CLI against the running system: every API verb, --json, --wait,
``logs --follow``, flags and environment variables, readable errors.

The CLI runs as a real subprocess (the installed ``rds`` script), as CI would.
"""
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.e2e.helpers import commit_page, new_repo

pytestmark = pytest.mark.e2e

RDS = os.path.join(os.path.dirname(sys.executable), "rds")


def rds(system, *args, env=None, check=True, token=True):
    environ = dict(os.environ, RDS_URL=system.url)
    environ.pop("RDS_TOKEN", None)
    if token:
        environ["RDS_TOKEN"] = system.token
    environ.update(env or {})
    result = subprocess.run([RDS, *args], env=environ, capture_output=True, text=True,
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError("rds %s failed (%s): %s%s" % (
            " ".join(args), result.returncode, result.stdout, result.stderr))
    return result


def rds_json(system, *args, **kwargs):
    return json.loads(rds(system, *args, "--json", **kwargs).stdout)


@pytest.fixture
def cli_project(rds_system, tmp_path):
    repo = new_repo(tmp_path / "repo", "cli v1")
    name = "cli-%s" % uuid.uuid4().hex[:8]
    spec = tmp_path / "project.json"
    spec.write_text(json.dumps({
        "name": name, "repository": str(repo), "default_ref": "main",
        "deploy_path": "apps/%s" % name, "servers": rds_system.server_specs(),
        "scripts": {"build": "mkdir -p public && cp page.txt public/index.html\n"}}))
    created = rds_json(rds_system, "project", "create", str(spec))
    assert created["name"] == name
    return name, repo


def current(rds_system, name):
    return {server.user: os.readlink(server.path("apps", name, "current"))
            for server in rds_system.app_servers}


def test_help_lists_every_verb(rds_system):
    top = rds(rds_system, "--help").stdout
    for verb in ("project", "release", "agents", "db", "user", "token", "demo"):
        assert "\n  %s " % verb in top
    releases = rds(rds_system, "release", "--help").stdout
    for verb in ("list", "create", "show", "activate", "rebuild", "cancel", "delete", "wait",
                 "logs"):
        assert "\n  %s " % verb in releases
    projects = rds(rds_system, "project", "--help").stdout
    for verb in ("list", "show", "create", "update", "revert"):
        assert "\n  %s " % verb in projects


def test_release_lifecycle_through_the_cli(rds_system, cli_project):
    name, repo = cli_project
    assert name in [p["name"] for p in rds_json(rds_system, "project", "list")["projects"]]

    first = rds_json(rds_system, "release", "create", name, "--comment", "one", "--wait")
    assert first["status"] == "installed"
    used = rds_json(rds_system, "release", "activate", str(first["id"]), "--wait")
    assert used["status"] == "used"
    assert set(current(rds_system, name).values()) == {"releases/" + first["version"]}

    commit_page(repo, "cli v2")
    second = rds_json(rds_system, "release", "create", name, "--comment", "two", "--wait")
    rds_json(rds_system, "release", "activate", str(second["id"]), "--wait")
    assert set(current(rds_system, name).values()) == {"releases/" + second["version"]}

    listed = rds_json(rds_system, "release", "list", name)["releases"]
    assert [r["version"] for r in listed] == [second["version"], first["version"]]
    human = rds(rds_system, "release", "list", name).stdout
    assert second["version"] in human and "used" in human and "two" in human

    reverted = rds_json(rds_system, "project", "revert", name, "--wait")
    assert reverted["version"] == first["version"] and reverted["status"] == "used"
    assert set(current(rds_system, name).values()) == {"releases/" + first["version"]}
    shown = rds_json(rds_system, "project", "show", name)
    assert shown["live_version"] == first["version"]

    deleted = rds_json(rds_system, "release", "delete", str(second["id"]))
    assert deleted["deleted"] is True
    refused = rds(rds_system, "release", "delete", str(first["id"]), check=False)
    assert refused.returncode == 1 and "Error: HTTP 409" in refused.stderr

    log = rds(rds_system, "release", "show", str(first["id"]), "--log").stdout
    assert "--- build task" in log


def test_logs_follow_streams_a_running_build(rds_system, cli_project, tmp_path):
    name, _ = cli_project
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    rds(rds_system, "project", "update", name, "--set", "scripts=" + json.dumps({"build": (
        "echo first line of the build\nread line < %s\necho second line\n"
        "mkdir -p public && cp page.txt public/index.html\n" % fifo)}))
    created = rds_json(rds_system, "release", "create", name)
    follower = subprocess.Popen(
        [RDS, "release", "logs", str(created["id"]), "--follow"],
        env=dict(os.environ, RDS_URL=rds_system.url, RDS_TOKEN=rds_system.token),
        stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in follower.stdout:  # the build is blocked: this line came while it runs
            seen.append(line)
            if "first line of the build" in line:
                break
        assert rds_json(rds_system, "release", "show", str(created["id"]))["status"] \
            == "building"
        with open(fifo, "w") as handle:
            handle.write("go\n")
        rest = follower.stdout.read()
        assert follower.wait(timeout=120) == 0
    finally:
        follower.kill()
    assert "second line" in rest
    assert rest.rstrip().endswith("--- %s installed ---" % created["version"])


def test_flags_and_environment_both_work(rds_system):
    by_env = rds_json(rds_system, "agents")
    by_flag = rds_json(rds_system, "--url", rds_system.url, "--token", rds_system.token,
                       "agents", token=False, env={"RDS_URL": "http://127.0.0.1:9"})
    assert {a["name"] for a in by_env["agents"]} == {a["name"] for a in by_flag["agents"]}
    online = {a["service"] for a in by_env["agents"] if a["online"]}
    assert {"builder", "activator", "killer", "migrator", "gc"} <= online
    only_web = rds_json(rds_system, "agents", "--pool", "web")["agents"]
    assert only_web and {a["pool"] for a in only_web} == {"web"}


def test_errors_are_one_readable_line(rds_system):
    missing = rds(rds_system, "release", "list", "no-such-project", check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: HTTP 404") and "Traceback" not in missing.stderr
    no_token = rds(rds_system, "agents", check=False, token=False,
                   env={"RDS_TOKEN": ""})
    assert no_token.returncode == 1 and "RDS_TOKEN" in no_token.stderr
    bad = rds(rds_system, "agents", check=False, env={"RDS_TOKEN": "rds_wrong"})
    assert bad.returncode == 1 and "HTTP 401" in bad.stderr
    away = rds(rds_system, "agents", check=False, env={"RDS_URL": "http://127.0.0.1:9"})
    assert away.returncode == 1 and away.stderr.startswith("Error: cannot reach http://127.0.0.1:9/")
    assert "Traceback" not in away.stderr
    badly_set = rds(rds_system, "agents", check=False, env={"RDS_QUEUE_TIMEOUT": "soon"})
    assert badly_set.returncode == 1 and "RDS_QUEUE_TIMEOUT" in badly_set.stderr
    nothing = rds(rds_system, "project", "update", "x", check=False)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr


def test_db_upgrade_prints_the_revisions_before_and_after():
    from rds_db.migrate import current_revision
    from rds_testing import infra

    url = infra.create_database()
    try:
        environ = dict(os.environ, RDS_DATABASE_URL=url)

        def run(*args):
            return subprocess.run([RDS, *args], env=environ, capture_output=True, text=True,
                                  timeout=120, check=True).stdout.strip()
        first = run("db", "upgrade")
        head = current_revision(url)
        assert head and first == "database upgraded from (empty) to %s" % head
        assert run("db", "upgrade") == "database already at %s" % head
        assert run("db", "current") == head
        elsewhere = dict(os.environ, RDS_DATABASE_URL="postgresql://x@127.0.0.1:9/none")
        flag = subprocess.run([RDS, "--database-url", url, "db", "current"], env=elsewhere,
                              capture_output=True, text=True, timeout=60)
        assert flag.stdout.strip() == head
    finally:
        infra.drop_database(url)
