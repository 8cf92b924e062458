"""End to end through the API: config files reach both servers and every release
links them; shared dirs survive a redeploy and a rollback; each release's cron is
installed after activation and the older one comes back on rollback (read from
``crontab -l`` of the login users of the real sshd app servers)."""
import os
import stat
import subprocess
import uuid

import pytest

from rds_ssh.cron import replace_block
from tests.e2e.helpers import (
    BUILD_SCRIPT,
    activated,
    commit_page,
    config_pushed,
    installed,
    new_repo,
)

pytestmark = pytest.mark.e2e

CRON_SCRIPT = 'echo "*/5 * * * * echo $version >> $deployPath/shared/storage/cron.log"\n'
POST_DEPLOY = "#!/bin/sh\nset -e\ntest -L storage\ncat .env > post-deploy-saw-env\n"


def crontab(user):
    result = subprocess.run(["crontab", "-l", "-u", user], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def remove_block(user, project):
    text = replace_block(crontab(user), project, "")
    subprocess.run(["crontab", "-u", user, "-"], input=text, text=True, check=True)


@pytest.fixture
def project(rds_system, tmp_path):
    repo = new_repo(tmp_path / "repo", "v1")
    name = "e2e-cfg-%s" % uuid.uuid4().hex[:8]
    rds_system.api.post("/projects", {
        "name": name, "repository": str(repo), "deploy_path": "apps/%s" % name,
        "servers": rds_system.server_specs(), "shared_dirs": ["storage"],
        "scripts": {"build": BUILD_SCRIPT, "cron": CRON_SCRIPT, "post_deploy": POST_DEPLOY}})
    yield name, repo
    for server in rds_system.app_servers:
        remove_block(server.user, name)


def save_config(api, name, filename, content):
    saved = api.request("PUT", "/projects/%s/configs/%s" % (name, filename),
                        {"content": content, "comment": "e2e"})
    return config_pushed(api, name, filename, saved["version"])


def test_config_shared_dirs_and_cron_across_redeploy_and_rollback(rds_system, project):
    api, (name, repo) = rds_system.api, project
    servers = rds_system.app_servers

    pushed = save_config(api, name, ".env", "KEY=one\n")
    assert pushed["upload_state"] == "pushed", pushed
    assert [r["ok"] for r in pushed["upload_results"]] == [True, True]
    for server in servers:
        path = server.path("apps", name, "shared", "config", ".env")
        assert open(path).read() == "KEY=one\n"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640

    v1 = installed(api, name)
    assert v1["config_revision"] == 1
    assert v1["cron"] == "*/5 * * * * echo %s >> apps/%s/shared/storage/cron.log\n" % (
        v1["version"], name)
    for server in servers:
        release = server.path("apps", name, "releases", v1["version"])
        assert open(os.path.join(release, ".env")).read() == "KEY=one\n"  # through the link
        assert open(os.path.join(release, "post-deploy-saw-env")).read() == "KEY=one\n"
        assert os.readlink(os.path.join(release, "storage")) == "../../shared/storage"
    activated(api, v1["id"])
    for server in servers:
        assert "echo %s >>" % v1["version"] in crontab(server.user)
        with open(server.path("apps", name, "current", "storage", "upload.txt"), "w") as f:
            f.write("kept")

    commit_page(repo, "v2")
    assert save_config(api, name, ".env", "KEY=two\n")["upload_state"] == "pushed"
    v2 = installed(api, name)
    assert v2["config_revision"] == 2
    activated(api, v2["id"])
    for server in servers:
        current = server.path("apps", name, "current")
        assert open(os.path.join(current, "storage", "upload.txt")).read() == "kept"
        assert open(os.path.join(current, ".env")).read() == "KEY=two\n"
        text = crontab(server.user)
        assert "echo %s >>" % v2["version"] in text and v1["version"] not in text

    activated(api, v1["id"])  # rollback
    for server in servers:
        current = server.path("apps", name, "current")
        assert os.readlink(current) == "releases/" + v1["version"]
        assert open(os.path.join(current, "storage", "upload.txt")).read() == "kept"
        text = crontab(server.user)
        assert "echo %s >>" % v1["version"] in text and v2["version"] not in text
        assert text.count("# BEGIN rds %s " % name) == 1
    page = api.get("/releases/%d" % v1["id"])
    assert page["config_revision"] == 1


def test_a_failing_post_deploy_fails_the_install_with_its_output(rds_system, project):
    api, (name, _) = rds_system.api, project
    api.request("PATCH", "/projects/%s" % name,
                {"scripts": {"post_deploy": "echo 'cache warm-up failed' >&2; exit 9"}})
    created = api.post("/projects/%s/releases" % name, {"comment": "post-deploy fails"})
    ended = api.wait_release(created["id"], {"installed", "failed"}, timeout=180)
    assert ended["status"] == "failed"
    assert "post_deploy failed" in ended["last_error"]
    assert "cache warm-up failed" in ended["last_error"]
    assert {s["state"] for s in ended["servers"]} == {"failed"}


def test_the_cli_saves_shows_lists_and_deletes_config_files(rds_system, project, tmp_path):
    from tests.e2e.test_cli import rds, rds_json

    name, _ = project
    source = tmp_path / "prod.env"
    source.write_text("TOKEN=from-cli\n")
    saved = rds_json(rds_system, "config", "set", name, ".env", "--file", str(source),
                     "--comment", "from the CLI")
    assert (saved["version"], saved["comment"]) == (1, "from the CLI")
    assert "content" not in saved
    assert rds(rds_system, "config", "show", name, ".env").stdout == "TOKEN=from-cli\n"
    listed = rds_json(rds_system, "config", "list", name)
    assert [f["name"] for f in listed["files"]] == [".env"]
    history = rds(rds_system, "config", "history", name, ".env").stdout
    assert "from the CLI" in history and "TOKEN" not in history
    assert "deleted .env (revision 2)" in rds(rds_system, "config", "delete", name,
                                              ".env").stdout
    refused = rds(rds_system, "config", "set", name, "bad name;rm", "--file", str(source),
                  check=False)
    assert refused.returncode == 1 and "HTTP 400: config file name" in refused.stderr
