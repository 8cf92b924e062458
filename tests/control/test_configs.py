"""Config files: versions, revisions, pushes, bad input, secrets in the audit log."""
import pytest

from rds_contracts import configs as wire
from rds_control import configs, outbox, releases
from rds_control.errors import Conflict, InvalidInput
from rds_control.reaper import reap
from rds_db.models import AuditEntry, ConfigFile, ConfigFileVersion, OutboxMessage, Task
from rds_db.models.base import utcnow

SECRET = "DB_PASSWORD=hunter2\n"


def pushes(session, project):
    return [m for m in (session.get(OutboxMessage, i) for i in outbox.pending_ids(session))
            if m.command == wire.PUSH_CONFIG and m.body["project"] == project.name]


def test_saving_a_file_bumps_the_revision_records_a_version_and_pushes_every_file(
        db_session, make_project, alice):
    project = make_project()
    configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    row = configs.save_file(db_session, project.name, "config/local.yml",
                            {"content": "a: 1\r\n", "comment": "add local"}, alice)
    assert project.config_revision == 2
    assert (row.version, row.project_revision, row.content, row.comment) == (
        1, 2, "a: 1\n", "add local")
    assert row.user_id == alice.id and row.upload_state == "pending"
    last = pushes(db_session, project)[-1].body
    assert last["revision"] == 2
    assert {f["name"]: f["content"] for f in last["files"]} == {
        ".env": SECRET, "config/local.yml": "a: 1\n"}
    task = db_session.get(Task, row.task_id)
    assert (task.kind, task.lane) == ("config", None)


def test_the_audit_log_says_a_version_changed_but_never_its_content(
        db_session, make_project, alice):
    project = make_project()
    configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    configs.delete_file(db_session, project.name, ".env", {}, alice)
    entries = db_session.query(AuditEntry).filter(AuditEntry.project_id == project.id).all()
    config_entries = [e for e in entries if e.action.startswith("config.")]
    assert [e.action for e in config_entries] == ["config.saved", "config.deleted"]
    assert all("hunter2" not in e.message and "hunter2" not in str(e.details)
               for e in entries)


@pytest.mark.parametrize("filename, content, field, message", [
    ("../etc/passwd", "x", "filename", "escape"),
    ("/etc/passwd", "x", "filename", "relative"),
    ("a/../../b", "x", "filename", "escape"),
    ("a\0b", "x", "filename", "NUL"),
    (".env", "a\0b", "content", "NUL"),
    (".env", "x" * (1024 * 1024 + 1), "content", "1 MiB"),
    (".rds-config.json", "x", "filename", "reserved"),
])
def test_bad_input_names_the_field_and_saves_nothing(db_session, make_project, alice,
                                                     filename, content, field, message):
    project = make_project()
    with pytest.raises(InvalidInput, match=message) as caught:
        configs.save_file(db_session, project.name, filename, {"content": content}, alice)
    assert caught.value.field == field
    assert project.config_revision == 0
    assert db_session.query(ConfigFile).filter_by(project_id=project.id).count() == 0
    assert pushes(db_session, project) == []


def test_an_unchanged_save_is_refused(db_session, make_project, alice):
    project = make_project()
    configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    with pytest.raises(Conflict, match="unchanged"):
        configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    assert project.config_revision == 1


@pytest.mark.parametrize("filename", ["storage/x.yml", "app.ini"])
def test_a_file_overlapping_a_shared_path_is_refused(db_session, make_project, alice,
                                                     filename):
    project = make_project(shared_dirs=["storage"], shared_files=["config/app.ini"])
    with pytest.raises(InvalidInput, match="overlaps the shared path") as caught:
        configs.save_file(db_session, project.name, filename, {"content": "x"}, alice)
    assert caught.value.field == "filename"


def test_push_results_land_on_the_version_with_the_failing_server(
        db_session, make_project, alice, agent_for):
    project = make_project()
    row = configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    agent = agent_for(db_session.get(Task, row.task_id), "host1/activator/1")
    agent.start()
    one, two = project.servers
    agent.send(wire.CONFIG_PUSH_FAILED, wire.ConfigPushFailed, reason="1 of 2 failed",
               servers=[{"server_id": one.id, "ok": True},
                        {"server_id": two.id, "ok": False, "error": "disk full"}])
    db_session.refresh(row)
    assert row.upload_state == "failed"
    assert row.upload_results == [
        {"server": one.label, "ok": True, "error": None},
        {"server": two.label, "ok": False, "error": "disk full"}]
    assert "disk full" in row.upload_log


def test_a_reaped_push_marks_its_version_failed(db_session, make_project, alice):
    project = make_project()
    row = configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    task = db_session.get(Task, row.task_id)
    task.created_at = utcnow().replace(year=2000)
    reap(db_session, queue_timeout=60)
    db_session.refresh(row)
    assert (task.status, row.upload_state) == ("failed", "failed")
    assert "no agent took the task" in row.upload_log


def test_a_release_records_its_revision_and_builds_with_the_links(
        db_session, make_project, alice):
    project = make_project(shared_dirs=["storage"], shared_files=["var/app.db"],
                           scripts={"build": "make", "cron": "echo '* * * * * true'"})
    configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    configs.save_file(db_session, project.name, "config/b.yml", {"content": "b"}, alice)
    release = releases.create_release(db_session, project.name, {}, alice)
    assert release.config_revision == 2
    body = release.tasks[-1].command
    assert body["config_files"] == [".env", "config/b.yml"]
    assert (body["shared_dirs"], body["shared_files"]) == (["storage"], ["var/app.db"])
    assert body["cron_script"] == "echo '* * * * * true'"
    assert "hunter2" not in str(body)


def test_revision_files_rebuild_any_revision(db_session, make_project, alice):
    project = make_project()
    configs.save_file(db_session, project.name, ".env", {"content": "A=1"}, alice)
    configs.save_file(db_session, project.name, "b", {"content": "B"}, alice)
    configs.save_file(db_session, project.name, ".env", {"content": "A=2"}, alice)
    configs.delete_file(db_session, project.name, "b", {"comment": "gone"}, alice)
    assert configs.revision_files(db_session, project, 2) == {".env": "A=1", "b": "B"}
    assert configs.revision_files(db_session, project, 4) == {".env": "A=2"}
    versions = configs.history(db_session, configs.get_file(db_session, project, "b",
                                                            include_deleted=True))
    assert [(v.version, v.deleted, v.comment) for v in versions] == [
        (2, True, "gone"), (1, False, "")]
    assert db_session.query(ConfigFileVersion).count() >= 4


@pytest.mark.parametrize("field, value", [("shared_dirs", ["../outside"]),
                                          ("shared_files", ["/etc/passwd"])])
def test_shared_paths_that_escape_are_refused(
        db_session, make_project, field, value):
    with pytest.raises(InvalidInput) as caught:
        make_project(**{field: value})
    assert caught.value.field == "%s.0" % field


def test_push_again_retries_the_current_revision_once_the_last_push_ended(
        db_session, make_project, alice, agent_for):
    project = make_project()
    with pytest.raises(Conflict, match="no config files"):
        configs.push_again(db_session, project.name, alice)
    row = configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    with pytest.raises(Conflict, match="being pushed right now"):
        configs.push_again(db_session, project.name, alice)
    first_task = row.task_id
    agent = agent_for(db_session.get(Task, first_task), "host1/activator/1")
    agent.start()
    agent.send(wire.CONFIG_PUSH_FAILED, wire.ConfigPushFailed, reason="server down")
    assert configs.push_again(db_session, project.name, alice) == [row]
    assert row.upload_state == "pending" and row.task_id != first_task
    assert pushes(db_session, project)[-1].body["revision"] == 1


def test_a_server_check_says_which_version_each_server_holds(db_session, make_project,
                                                             alice, agent_for):
    import hashlib

    project = make_project()
    configs.save_file(db_session, project.name, ".env", {"content": "A=1\n"}, alice)
    configs.save_file(db_session, project.name, ".env", {"content": "A=2\n"}, alice)
    task = configs.check_servers(db_session, project.name, alice)
    assert (task.kind, task.command["names"]) == ("config_check", [".env"])
    one, two = project.servers
    agent = agent_for(task, "host1/activator/1")
    agent.start()
    agent.send(wire.CONFIG_INSPECTED, wire.ConfigInspected, servers=[
        {"server_id": one.id, "ok": True, "revision": 1,
         "files": {".env": hashlib.sha256(b"A=1\n").hexdigest()}},
        {"server_id": two.id, "ok": True, "revision": 2,
         "files": {".env": hashlib.sha256(b"edited by hand\n").hexdigest()}}])
    assert task.status == "succeeded"
    found = configs.get_file(db_session, project, ".env")
    holdings = {h.server: h for h in configs.server_holdings(db_session, found)}
    assert holdings[one.label].summary == "version 1 (not the current one)"
    assert (holdings[one.label].version, holdings[one.label].current) == (1, False)
    assert holdings[two.label].summary == "changed on the server: matches no version"
    agent2 = agent_for(configs.check_servers(db_session, project.name, alice))
    agent2.start()
    agent2.send(wire.CONFIG_INSPECTED, wire.ConfigInspected, servers=[
        {"server_id": one.id, "ok": True, "revision": 2,
         "files": {".env": hashlib.sha256(b"A=2\n").hexdigest()}},
        {"server_id": two.id, "ok": False, "error": "connection refused"}])
    holdings = {h.server: h for h in configs.server_holdings(db_session, found)}
    assert holdings[one.label].current and holdings[one.label].summary == "version 2"
    assert holdings[two.label].summary == "not checked: connection refused"


def test_installing_on_missing_servers_links_the_config_files_the_release_was_built_with(
        db_session, make_project, alice, agent_for):
    from rds_contracts import builder
    from rds_control.installs import install_missing

    project = make_project(upload_max_failures=1, shared_dirs=["storage"])
    configs.save_file(db_session, project.name, ".env", {"content": "A=1"}, alice)
    release = releases.create_release(db_session, project.name, {}, alice)
    first, second = project.servers
    agent = agent_for(release.tasks[0])
    agent.start()
    agent.send(builder.BUILD_BUILT, builder.BuildBuilt, commit="a" * 40, files=1, bytes=1)
    agent.send(builder.SERVER_READY, builder.ServerReady, server_id=first.id,
               manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
    agent.send(builder.BUILD_FINISHED, builder.BuildFinished, servers=[
        {"server_id": first.id, "ok": True},
        {"server_id": second.id, "ok": False, "error": "disk full"}])
    configs.save_file(db_session, project.name, "later.yml", {"content": "x"}, alice)
    install_missing(db_session, release.id, alice)
    command = release.tasks[-1].command
    assert command["config_files"] == [".env"]  # not later.yml: same tree as verified
    assert command["shared_dirs"] == ["storage"]


def test_operators_see_a_push_command_without_contents(db_session, make_project, alice):
    from rds_control.operations import task_detail

    project = make_project()
    row = configs.save_file(db_session, project.name, ".env", {"content": SECRET}, alice)
    detail = task_detail(db_session, row.task_id)
    assert detail["command"]["files"] == [{"name": ".env", "content": "<20 bytes, hidden>"}]
    assert "hunter2" not in str(detail)
