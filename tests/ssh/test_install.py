"""The builder around the upload, on real sshd servers: shared links, cron output,
post_deploy on every server, a custom deploy script; cron installs into crontabs."""
import os
import subprocess
import uuid

import pytest

from rds_agent.activation import run_activation
from rds_agent.build import run_build
from rds_agent.run_records import TaskFiles
from rds_contracts.activator import ActivateCommand, ActivationFailed, ActivationFinished
from rds_contracts.builder import BuildBuilt, BuildCommand, BuildFailed, BuildFinished, ServerReady
from rds_ssh.cron import begin_marker, install_cron
from tests.e2e.helpers import git
from tests.ssh.conftest import V1, V2, Reporter, agent_settings


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "index.html").write_text("hello\n")
    (path / "storage").mkdir()
    (path / "storage" / "from-git.txt").write_text("replaced by the shared dir\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "init")
    return str(path)


@pytest.fixture
def build(repo, servers, deploy_path, settings, tmp_path):
    conf = agent_settings(tmp_path, settings)

    def run(version, **fields):
        fields.setdefault("build_script", "true")
        command = BuildCommand(task_id=uuid.uuid4().hex, project="shop", repository=repo,
                               ref="main", version=version, release_line=1,
                               deploy_path=deploy_path, servers=servers, **fields)
        reporter = Reporter()
        run_build(command, reporter, conf, TaskFiles(conf.run_dir))
        return reporter
    run.conf = conf
    return run


def final(reporter):
    return reporter.events[-1]


def test_shared_paths_are_linked_verified_and_survive_a_redeploy(build, app_servers,
                                                                 deploy_path):
    fields = dict(shared_dirs=["storage"], shared_files=["var/app.db"],
                  config_files=[".env", "config/local.yml"])
    first = build(V1, **fields)
    assert final(first)[0] is BuildFinished, first.lines
    for server in app_servers:
        release = server.path(deploy_path, "releases", V1)
        assert os.readlink(os.path.join(release, "storage")) == "../../shared/storage"
        assert os.readlink(os.path.join(release, "var", "app.db")) == "../../../shared/var/app.db"
        assert os.readlink(os.path.join(release, "config", "local.yml")) == (
            "../../../shared/config/config/local.yml")
        assert os.path.isdir(server.path(deploy_path, "shared", "storage"))
        assert os.path.isfile(server.path(deploy_path, "shared", "var", "app.db"))
        with open(os.path.join(release, "storage", "upload.bin"), "w") as handle:
            handle.write("user data")  # written through the link into shared/
    assert "config file(s) .env, config/local.yml not in shared/config" in "\n".join(
        first.lines)
    second = build(V2, **fields)
    assert final(second)[0] is BuildFinished
    for server in app_servers:
        with open(server.path(deploy_path, "releases", V2, "storage", "upload.bin")) as h:
            assert h.read() == "user data"


def test_the_cron_script_output_goes_with_the_built_event(build):
    reporter = build(V1, cron_script='echo "*/5 * * * * php $projectDir/cron.php"')
    built = [fields for schema, fields in reporter.events if schema is BuildBuilt][0]
    assert built["cron"].startswith("*/5 * * * * php /") and "cron.php" in built["cron"]


def test_a_failing_cron_script_fails_the_build(build):
    schema, fields = final(build(V1, cron_script="echo nope; exit 3"))
    assert schema is BuildFailed and fields["phase"] == "cron"
    assert "nope" in fields["reason"]


def test_post_deploy_runs_on_every_server_in_the_release_before_it_is_ready(
        build, app_servers, deploy_path):
    reporter = build(V1, post_deploy_script='pwd > post.txt; echo "v=$version on $(whoami)"')
    assert final(reporter)[0] is BuildFinished
    assert len([s for s, _ in reporter.events if s is ServerReady]) == 2
    for server in app_servers:
        with open(server.path(deploy_path, "releases", V1, "post.txt")) as handle:
            assert handle.read().strip() == server.path(deploy_path, "releases", V1)
    assert "v=%s on rdsapp1" % V1 in "".join(reporter.lines)


def test_a_failing_post_deploy_fails_the_install_with_its_output(build):
    reporter = build(V1, post_deploy_script="echo migrating; echo 'table missing' >&2; exit 4")
    schema, fields = final(reporter)
    assert schema is BuildFailed and fields["phase"] == "post_deploy"
    assert "exited with status 4" in fields["reason"] and "table missing" in fields["reason"]
    assert [r.ok for r in fields["servers"]] == [False, False]
    assert not [s for s, _ in reporter.events if s is ServerReady]


def test_a_deploy_script_replaces_the_built_in_upload(build, app_servers, deploy_path,
                                                      tmp_path):
    seen = tmp_path / "deployed"
    script = ('test -f "$projectDir/index.html" && echo "$releaseDir $servers" > %s' % seen)
    reporter = build(V1, deploy_script=script)
    assert final(reporter)[0] is BuildFinished, reporter.lines
    assert seen.read_text().strip() == "%s/releases/%s 127.0.0.1 127.0.0.1" % (deploy_path, V1)
    assert not os.path.exists(app_servers[0].path(deploy_path, "releases", V1))
    assert len([s for s, _ in reporter.events if s is ServerReady]) == 2


def crontab(server):
    result = subprocess.run(["crontab", "-l", "-u", server.user], capture_output=True,
                            text=True)
    return result.stdout if result.returncode == 0 else ""


@pytest.fixture
def project():
    return "shop-%s" % uuid.uuid4().hex[:8]


@pytest.fixture
def clean_cron(servers, settings, project):
    yield
    install_cron(servers, project, "", settings)


def test_cron_blocks_replace_only_their_own_lines(servers, app_servers, settings, project,
                                                  clean_cron):
    other = "shop-other-%s" % uuid.uuid4().hex[:6]
    assert all(r.ok for r in install_cron(servers, other, "0 1 * * * other\n", settings))
    install_cron(servers, project, "*/5 * * * * one\n", settings)
    install_cron(servers, project, "*/7 * * * * two\n", settings)
    for server in app_servers:
        text = crontab(server)
        assert "0 1 * * * other" in text and "*/7 * * * * two" in text
        assert "one" not in text and text.count(begin_marker(project)) == 1
    install_cron(servers, other, "", settings)
    assert "other" not in crontab(app_servers[0])


def test_activation_installs_cron_and_rollback_restores_the_older_one(
        upload, servers, app_servers, deploy_path, settings, tmp_path, project, clean_cron):
    conf = agent_settings(tmp_path, settings)
    for version in (V1, V2):
        assert all(r.ok for r in upload(version, {"a.txt": version}))

    def activate(version, cron, previous_cron, previous_version=None):
        command = ActivateCommand(task_id=uuid.uuid4().hex, project=project, version=version,
                                  previous_version=previous_version, deploy_path=deploy_path,
                                  servers=servers, cron=cron, previous_cron=previous_cron)
        reporter = Reporter()
        run_activation(command, reporter, conf, TaskFiles(conf.run_dir))
        return final(reporter)[0]
    assert activate(V2, "*/5 * * * * echo v2\n", None) is ActivationFinished
    assert all("echo v2" in crontab(s) for s in app_servers)
    assert activate(V1, "0 * * * * echo v1\n", "*/5 * * * * echo v2\n", V2) \
        is ActivationFinished
    assert all("echo v1" in crontab(s) and "echo v2" not in crontab(s) for s in app_servers)


def test_a_failing_post_use_puts_the_previous_cron_back(upload, servers, app_servers,
                                                        deploy_path, settings, tmp_path,
                                                        project, clean_cron):
    conf = agent_settings(tmp_path, settings)
    upload(V1, {"a.txt": "1"})
    install_cron(servers, project, "1 1 * * * echo before\n", settings)
    command = ActivateCommand(task_id=uuid.uuid4().hex, project=project, version=V1,
                              deploy_path=deploy_path, servers=servers,
                              cron="2 2 * * * echo after\n",
                              previous_cron="1 1 * * * echo before\n",
                              post_use_script="echo \"cron=[$cron]\"; exit 1")
    reporter = Reporter()
    run_activation(command, reporter, conf, TaskFiles(conf.run_dir))
    assert final(reporter)[0] is ActivationFailed
    assert "cron=[2 2 * * * echo after" in "".join(reporter.lines)
    assert all("echo before" in crontab(s) and "echo after" not in crontab(s)
               for s in app_servers)
