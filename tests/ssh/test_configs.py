"""Config pushes into shared/config on real sshd servers."""
import os
import stat
import threading
import uuid

from rds_agent.configs import run_config_push
from rds_agent.run_records import TaskFiles
from rds_contracts.base import ServerSpec
from rds_contracts.configs import ConfigPushed, ConfigPushFailed, PushConfigCommand
from rds_ssh.configs import push_config
from tests.ssh.conftest import Reporter, agent_settings


def config_path(server, deploy_path, name):
    return server.path(os.path.join(deploy_path, "shared", "config", name))


def test_files_arrive_with_mode_0640_and_deleted_ones_go(servers, app_servers, deploy_path,
                                                         settings):
    files = {".env": "A=1\n", "config/local.yml": "x: 1\n"}
    results = push_config(servers, deploy_path, 1, files, settings)
    assert [r.ok for r in results] == [True, True]
    for server in app_servers:
        path = config_path(server, deploy_path, "config/local.yml")
        assert open(path).read() == "x: 1\n"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    push_config(servers, deploy_path, 2, {".env": "A=2\n"}, settings)
    for server in app_servers:
        assert open(config_path(server, deploy_path, ".env")).read() == "A=2\n"
        assert not os.path.exists(config_path(server, deploy_path, "config/local.yml"))
        leftovers = [n for n in os.listdir(config_path(server, deploy_path, ""))
                     if "rds-tmp" in n]
        assert leftovers == []


def test_a_stale_push_never_undoes_a_newer_revision(servers, app_servers, deploy_path,
                                                    settings):
    push_config(servers, deploy_path, 5, {".env": "NEW\n"}, settings)
    results = push_config(servers, deploy_path, 4, {".env": "OLD\n"}, settings)
    assert all(r.ok and "kept revision 5" in r.note for r in results)
    assert open(config_path(app_servers[0], deploy_path, ".env")).read() == "NEW\n"


def test_a_reader_never_sees_half_a_file(servers, app_servers, deploy_path, settings):
    big_a, big_b = "a" * 900_000 + "\n", "b" * 900_000 + "\n"
    push_config(servers[:1], deploy_path, 1, {".env": big_a}, settings)
    path = config_path(app_servers[0], deploy_path, ".env")
    seen, stop = set(), threading.Event()

    def read():
        while not stop.wait(0.001):  # read about a thousand times a second, yielding between
            with open(path) as handle:
                seen.add(handle.read())
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for revision in range(2, 8):
            push_config(servers[:1], deploy_path, revision,
                        {".env": big_b if revision % 2 else big_a}, settings)
    finally:
        stop.set()
        reader.join()
    assert seen <= {big_a, big_b} and len(seen) == 2


def test_a_failing_server_is_named_with_its_reason(servers, deploy_path, settings):
    dead = ServerSpec(id=9, host="127.0.0.1", port=1, user="nobody")
    results = push_config(servers[:1] + [dead], deploy_path, 1, {".env": "x"}, settings)
    assert results[0].ok and not results[1].ok
    assert "connection refused" in results[1].error


def test_the_agent_reports_per_server_results_and_never_logs_contents(
        servers, deploy_path, settings, tmp_path):
    dead = ServerSpec(id=9, host="127.0.0.1", port=1, user="nobody")
    command = PushConfigCommand(task_id=uuid.uuid4().hex, project="shop",
                                deploy_path=deploy_path, servers=servers + [dead], revision=1,
                                files=[{"name": ".env", "content": "SECRET=hunter2\n"}])
    reporter = Reporter()
    conf = agent_settings(tmp_path, settings)
    run_config_push(command, reporter, conf, TaskFiles(conf.run_dir))
    schema, fields = reporter.events[-1]
    assert schema is ConfigPushFailed
    assert [r.ok for r in fields["servers"]] == [True, True, False]
    assert "nobody@127.0.0.1:1" in fields["reason"]
    assert "hunter2" not in "".join(reporter.lines) + str(reporter.events)


def test_a_config_upload_script_gets_the_files_in_config_dir(servers, deploy_path, settings,
                                                             tmp_path):
    out = tmp_path / "seen"
    script = ('cp -r "$configDir" %s && stat -c %%a "$configDir/.env" > %s/mode && '
              'echo "$projectName $servers"' % (out, tmp_path))
    command = PushConfigCommand(task_id=uuid.uuid4().hex, project="shop",
                                deploy_path=deploy_path, servers=servers, revision=3,
                                files=[{"name": ".env", "content": "K=v\n"}],
                                upload_script=script)
    reporter = Reporter()
    conf = agent_settings(tmp_path, settings)
    run_config_push(command, reporter, conf, TaskFiles(conf.run_dir))
    assert reporter.events[-1][0] is ConfigPushed
    assert (out / ".env").read_text() == "K=v\n"
    assert (tmp_path / "mode").read_text().strip() == "640"
    assert "shop 127.0.0.1 127.0.0.1" in "".join(reporter.lines)
    assert not os.path.exists(conf.path("configs", command.task_id))


def test_a_check_reads_back_hashes_and_sees_hand_edits(servers, app_servers, deploy_path,
                                                       settings):
    import hashlib

    from rds_ssh.configs import inspect_config

    push_config(servers, deploy_path, 3, {".env": "A=1\n"}, settings)
    with open(config_path(app_servers[1], deploy_path, ".env"), "w") as handle:
        handle.write("edited\n")
    states = inspect_config(servers, deploy_path, [".env", "gone.yml"], settings)
    assert [(s.ok, s.revision) for s in states] == [(True, 3), (True, 3)]
    assert states[0].files == {".env": hashlib.sha256(b"A=1\n").hexdigest(), "gone.yml": None}
    assert states[1].files[".env"] == hashlib.sha256(b"edited\n").hexdigest()


def test_the_agent_reports_a_check_without_contents(servers, deploy_path, settings, tmp_path):
    from rds_agent.configs import run_config_inspect
    from rds_contracts.configs import ConfigInspected, InspectConfigCommand

    push_config(servers, deploy_path, 1, {".env": "SECRET=hunter2\n"}, settings)
    command = InspectConfigCommand(task_id=uuid.uuid4().hex, project="shop",
                                   deploy_path=deploy_path, servers=servers, names=[".env"])
    reporter = Reporter()
    conf = agent_settings(tmp_path, settings)
    run_config_inspect(command, reporter, conf, TaskFiles(conf.run_dir))
    schema, fields = reporter.events[-1]
    assert schema is ConfigInspected and fields.get("error") is None
    assert [s["revision"] for s in fields["servers"]] == [1, 1]
    assert "hunter2" not in "".join(reporter.lines) + str(reporter.events)
