"""Projects: list, create, edit, script editors; errors next to the field, nothing saved."""
import re

import pytest
from markupsafe import escape

from rds_control import projects
from rds_core.scripts import COMMON_ENV, SCRIPTS
from tests.web.web_support import in_tx, unique


def load(session_factory, name):
    def read(session):
        p = projects.get_project(session, name)
        return projects.project_to_input(p)
    return in_tx(session_factory, read)


def form(**overrides):
    data = {"name": unique("web"), "repository": "https://git.example.com/shop.git",
            "default_ref": "main", "deploy_path": "/srv/shop", "agent_pool": "default",
            "keep_releases": "5", "post_migration_delay_days": "7", "upload_concurrency": "4",
            "upload_max_failures": "0",
            "servers": "deploy@app1.example.com\ndeploy@app2.example.com:2222\n",
            "shared_files": ".env\n", "shared_dirs": "storage\nlogs\n",
            "script_build": "#!/bin/bash\nmake\n"}
    data.update(overrides)
    return data


def field_error(page, field):
    match = re.search(r'<small class="field-error" id="%s-error">([^<]*)</small>' % field, page)
    return match.group(1) if match else None


def test_create_a_project(as_deployer, session_factory):
    data = form()
    response = as_deployer.post("/projects/_new", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/projects/" + data["name"]
    saved = load(session_factory, data["name"])
    assert saved["servers"] == [{"host": "app1.example.com", "port": 22, "user": "deploy"},
                                {"host": "app2.example.com", "port": 2222, "user": "deploy"}]
    assert saved["keep_releases"] == 5 and saved["upload_concurrency"] == 4
    assert saved["shared_dirs"] == ["storage", "logs"]
    assert saved["scripts"] == {"build": "#!/bin/bash\nmake\n"}  # scripts keep whitespace
    page = as_deployer.get(response.headers["Location"]).get_data(as_text=True)
    assert "Created project %s." % data["name"] in page
    assert "deploy@app2.example.com:2222" in page


@pytest.mark.parametrize("overrides,field,message", [
    ({"name": "Bad Name"}, "name", "name"),
    ({"repository": ""}, "repository", "repository"),
    ({"deploy_path": "../../etc"}, "deploy_path", "deploy_path"),
    ({"keep_releases": "many"}, "keep_releases", "integer"),
    ({"keep_releases": "1"}, "keep_releases", "2"),
    ({"upload_concurrency": "0"}, "upload_concurrency", "1"),
    ({"servers": "app1.example.com"}, "servers", "line 1"),
    ({"servers": "deploy@app1.example.com:port"}, "servers", "servers.0.port"),
    ({"servers": "deploy@a.example.com\ndeploy@a.example.com"}, "servers", "listed twice"),
    ({"agent_pool": "Bad Pool!"}, "agent_pool", "agent_pool"),
    ({"default_ref": "a..b"}, "default_ref", "default_ref"),
])
def test_form_errors_are_shown_next_to_the_field_and_nothing_is_saved(
        as_deployer, session_factory, overrides, field, message):
    data = form(**overrides)
    response = as_deployer.post("/projects/_new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = field_error(page, field)
    assert error is not None and message in error, page
    assert 'name="%s"' % field in page
    assert data["deploy_path"].replace("/", "/")[:5] in page  # the form keeps what was typed
    assert as_deployer.get("/projects/%s" % data["name"]).status_code == 404


def test_a_taken_name_is_refused(as_deployer, make_project):
    name = make_project()
    response = as_deployer.post("/projects/_new", form(name=name))
    assert response.status_code == 409
    assert "already exists" in field_error(response.get_data(as_text=True), "name")


def test_edit_settings(as_deployer, make_project, session_factory):
    name = make_project()
    page = as_deployer.get("/projects/%s/edit" % name).get_data(as_text=True)
    assert "deploy@10.0.0.1:22\ndeploy@10.0.0.2:22" in page
    data = form(servers="deploy@10.0.0.2\nweb@10.0.0.9:2200", keep_releases="12")
    del data["name"]
    response = as_deployer.post("/projects/%s/edit" % name, data)
    assert response.status_code == 302
    saved = load(session_factory, name)
    assert saved["keep_releases"] == 12
    assert [s["host"] for s in saved["servers"]] == ["10.0.0.2", "10.0.0.9"]
    assert saved["scripts"] == {"build": "make"}  # scripts are edited elsewhere


def test_a_bad_edit_changes_nothing(as_deployer, make_project, session_factory):
    name = make_project()
    before = load(session_factory, name)
    data = form(keep_releases="20", servers="nonsense")
    del data["name"]
    response = as_deployer.post("/projects/%s/edit" % name, data)
    assert response.status_code == 400
    assert "line 1" in field_error(response.get_data(as_text=True), "servers")
    assert load(session_factory, name) == before


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_every_script_has_an_editor_with_its_environment(as_deployer, make_project, kind):
    name = make_project()
    page = as_deployer.get("/projects/%s/scripts/%s" % (name, kind)).get_data(as_text=True)
    spec = SCRIPTS[kind]
    assert str(escape(spec.runs)) in page
    assert str(escape(spec.project_dir)) in page
    for variable in list(COMMON_ENV) + list(spec.extra_env):
        assert "<code>$%s</code>" % variable in page
    assert page.count("<td><code>$") == len(spec.env)
    assert ('id="not-run-yet"' in page) == (not spec.active)
    where = "on every application server" if spec.where == "server" else "on the agent"
    assert where in page


def test_save_a_script(as_deployer, make_project, session_factory):
    name = make_project()
    response = as_deployer.post("/projects/%s/scripts/post_use" % name,
                                {"body": "#!/bin/bash\r\ncurl -fsS localhost/health\r\n"})
    assert response.status_code == 302
    scripts = load(session_factory, name)["scripts"]
    assert scripts == {"build": "make", "post_use": "#!/bin/bash\ncurl -fsS localhost/health\n"}
    page = as_deployer.get("/projects/%s" % name).get_data(as_text=True)
    assert "Saved the post-use script of %s." % name in page


def test_a_too_long_script_is_refused(as_deployer, make_project, session_factory):
    name = make_project()
    response = as_deployer.post("/projects/%s/scripts/cron" % name, {"body": "x" * 300000})
    assert response.status_code == 400
    assert "longer than 256 KiB" in response.get_data(as_text=True)
    assert "cron" not in load(session_factory, name)["scripts"]


def test_unknown_script_kind_and_project(as_deployer, make_project):
    name = make_project()
    assert as_deployer.get("/projects/%s/scripts/nope" % name).status_code == 404
    assert as_deployer.get("/projects/no-such-project").status_code == 404


def test_project_list(as_viewer, make_project, make_release):
    name = make_project()
    make_release.live(name)
    page = as_viewer.get("/projects").get_data(as_text=True)
    assert '<a href="/projects/%s"><strong>%s</strong></a>' % (name, name) in page
    assert "1.00.001.1" in page
    assert "/projects/%s/scripts/" % name not in page  # viewers do not edit scripts
    assert 'id="new-project"' not in page
