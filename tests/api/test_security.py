"""The API's edge: every input bounded, every refusal a JSON 4xx naming the field,
nothing changed by a refused request, and no 500 whatever is sent."""
import json
import uuid

import pytest

from rds_control.inputs import MAX_SCRIPTS_TOTAL
from rds_db.session import transaction


@pytest.fixture
def deployer(persona):
    return persona("deployer")


@pytest.fixture
def release_id(client, deployer, project_body):
    body = project_body()
    assert client.post("/api/v1/projects", headers=deployer, json=body).status_code == 201
    response = client.post("/api/v1/projects/%s/releases" % body["name"], headers=deployer,
                           json={})
    return response.json["id"]


def assert_refused(response, field, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["field"] == field, response.json


@pytest.mark.parametrize("timeout", ["nan", "NaN", "inf", "-inf", "-1", "61", "1e309", "x"])
def test_a_long_poll_timeout_must_be_a_finite_number_in_range(client, deployer, release_id,
                                                              timeout):
    response = client.get("/api/v1/releases/%d/wait?status=used&timeout=%s"
                          % (release_id, timeout), headers=deployer)
    assert_refused(response, "timeout")


@pytest.mark.parametrize("path, field", [
    ("/api/v1/migrations/1/wait?timeout=%s", "timeout"),
    ("/api/v1/projects/any/configs/app.env/versions/1?wait=%s", "wait")])
@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", "61"])
def test_every_long_poll_refuses_a_wait_that_is_not_finite_and_in_range(client, deployer, path,
                                                                       field, seconds):
    assert_refused(client.get(path % seconds, headers=deployer), field)


def test_a_long_poll_status_must_be_a_release_status(client, deployer, release_id):
    response = client.get("/api/v1/releases/%d/wait?status=nonsense&timeout=0" % release_id,
                          headers=deployer)
    assert_refused(response, "status")


def test_a_long_poll_within_range_answers(client, deployer, release_id):
    response = client.get("/api/v1/releases/%d/wait?status=used&timeout=0" % release_id,
                          headers=deployer)
    assert response.status_code == 200 and response.json["status"] == "new"


@pytest.mark.parametrize("limit", ["0", "501", "nan", "1" * 5000])
def test_list_limit_out_of_range_is_refused(client, deployer, release_id, limit):
    response = client.get("/api/v1/projects/x/releases?limit=" + limit, headers=deployer)
    assert response.status_code in (400, 404)
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("field, value, named", [
    ("name", "a\x00b", "name"),
    ("repository", "/srv/git/x\x00.git", "repository"),
    ("deploy_path", "apps/\x00", "deploy_path"),
    ("scripts", {"build": "make\x00"}, "scripts.build"),
    ("default_ref", "main\x00", "default_ref"),
])
def test_nul_anywhere_in_a_body_is_a_400_naming_the_field(client, deployer, project_body,
                                                          field, value, named):
    body = project_body(**{field: value})
    assert_refused(client.post("/api/v1/projects", headers=deployer, json=body), named)
    name = body["name"].replace("\x00", "")
    assert client.get("/api/v1/projects/" + name, headers=deployer).status_code == 404


def test_nul_in_a_patch_changes_nothing(client, deployer, project_body):
    body = project_body()
    client.post("/api/v1/projects", headers=deployer, json=body)
    response = client.patch("/api/v1/projects/" + body["name"], headers=deployer,
                            json={"repository": "/srv/git/\x00"})
    assert_refused(response, "repository")
    shown = client.get("/api/v1/projects/" + body["name"], headers=deployer).json
    assert shown["repository"] == body["repository"]


@pytest.mark.parametrize("body", [[1], ["ab"], "ab", 3, True])
def test_a_body_that_is_not_a_json_object_is_a_400(client, deployer, project_body, body):
    project = project_body()
    client.post("/api/v1/projects", headers=deployer, json=project)
    for method, path in (("patch", "/api/v1/projects/" + project["name"]),
                         ("post", "/api/v1/projects"),
                         ("post", "/api/v1/projects/%s/releases" % project["name"])):
        response = getattr(client, method)(path, headers=deployer, json=body)
        assert response.status_code == 400, (method, path, response.get_data(as_text=True))
        assert response.json["error"] == "expected a JSON object"
    shown = client.get("/api/v1/projects/" + project["name"], headers=deployer).json
    assert shown["repository"] == project["repository"]


@pytest.mark.parametrize("comment", ["fix\x00", "x" * 2001])
def test_release_comment_is_bounded(client, deployer, project_body, comment):
    body = project_body()
    client.post("/api/v1/projects", headers=deployer, json=body)
    response = client.post("/api/v1/projects/%s/releases" % body["name"], headers=deployer,
                           json={"comment": comment})
    assert_refused(response, "comment")


@pytest.mark.parametrize("field, value", [
    ("upload_max_failures", 2**31), ("upload_max_failures", 10**30),
    ("upload_max_failures", 1001), ("upload_concurrency", 2**63), ("keep_releases", -2**63),
    ("post_migration_delay_days", 10**20)])
def test_numbers_out_of_range_are_refused(client, deployer, project_body, field, value):
    assert_refused(client.post("/api/v1/projects", headers=deployer,
                               json=project_body(**{field: value})), field)


@pytest.mark.parametrize("value", [2**31, 10**12, -1])
def test_release_line_out_of_range_is_refused(client, deployer, project_body, value):
    body = project_body()
    client.post("/api/v1/projects", headers=deployer, json=body)
    response = client.post("/api/v1/projects/%s/releases" % body["name"], headers=deployer,
                           json={"release_line": value})
    assert_refused(response, "release_line")


@pytest.mark.parametrize("field", ["shared_files", "shared_dirs"])
@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "$(id)", "a;rm -rf /",
                                  "logs/../../x", "a b", "`id`", "x\n", ".", "a//b", ""])
def test_shared_paths_stay_inside_and_carry_no_shell(client, deployer, project_body, field,
                                                     path):
    response = client.post("/api/v1/projects", headers=deployer,
                           json=project_body(**{field: [path]}))
    assert_refused(response, field + ".0")


def test_plain_shared_paths_are_accepted(client, deployer, project_body):
    body = project_body(shared_files=["config/app.ini", ".env"], shared_dirs=["var/log"])
    response = client.post("/api/v1/projects", headers=deployer, json=body)
    assert response.status_code == 201
    assert response.json["shared_files"] == ["config/app.ini", ".env"]


def test_scripts_together_are_bounded(client, deployer, project_body):
    big = "#" * (MAX_SCRIPTS_TOTAL // 4 + 1)
    scripts = dict.fromkeys(("build", "use", "post_use", "prepare"), big)
    response = client.post("/api/v1/projects", headers=deployer,
                           json=project_body(scripts=scripts))
    assert response.status_code in (400, 413)
    assert response.mimetype == "application/json"


def test_a_huge_body_is_a_json_413(client, deployer, project_body):
    body = project_body(scripts={"build": "#" * (3 * 1024 * 1024)})
    response = client.post("/api/v1/projects", headers=deployer, json=body)
    assert response.status_code == 413 and response.mimetype == "application/json"


@pytest.mark.parametrize("depth", [33, 50_000])
def test_deeply_nested_json_is_a_400(client, deployer, depth):
    data = "[" * depth + "]" * depth
    response = client.post("/api/v1/projects", headers=deployer, data=data,
                           content_type="application/json")
    assert_refused(response, "body")


def test_ordinary_nesting_is_fine(client, deployer, project_body):
    body = json.dumps(project_body())
    response = client.post("/api/v1/projects", headers=deployer, data=body,
                           content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/projects/a%00b", "/api/v1/projects/a%01b",
                                  "/api/v1/projects/a%00b/releases"])
def test_control_characters_in_the_path_are_a_json_400(client, deployer, path):
    assert_refused(client.get(path, headers=deployer), "path")


@pytest.mark.parametrize("query", ["limit=%00", "log=%00", "x%00=1"])
def test_control_characters_in_the_query_are_a_json_400(client, deployer, release_id, query):
    response = client.get("/api/v1/releases/%d?%s" % (release_id, query), headers=deployer)
    assert response.status_code == 400 and response.mimetype == "application/json"


@pytest.mark.parametrize("path", ["/api/v1/releases/2147483648",
                                  "/api/v1/releases/99999999999999999999",
                                  "/api/v1/releases/2147483648/wait?status=used"])
def test_ids_beyond_the_database_are_not_found(client, deployer, path):
    response = client.get(path, headers=deployer)
    assert response.status_code == 404 and response.mimetype == "application/json"


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/v1/nothing-here", 404), ("PUT", "/api/v1/projects", 405),
    ("DELETE", "/api/v1/projects", 405), ("POST", "/api/v1/health", 405)])
def test_api_errors_are_always_json(client, deployer, method, path, status):
    response = client.open(path, method=method, headers=deployer)
    assert response.status_code == status and response.mimetype == "application/json"
    assert response.json["error"]


def test_a_project_listing_stays_bounded(client, deployer, project_body):
    """The largest project one may store still lists in well under the body limit."""
    big = "#" * (256 * 1024)
    scripts = {"build": big, "use": big, "post_use": big}
    body = project_body(scripts=scripts, servers=[{"host": "10.0.%d.%d" % divmod(n, 250),
                                                   "user": "deploy"} for n in range(1000)])
    assert client.post("/api/v1/projects", headers=deployer, json=body).status_code == 201
    shown = client.get("/api/v1/projects/" + body["name"], headers=deployer)
    assert len(shown.get_data()) < 2 * 1024 * 1024


def test_health_hides_database_details_without_the_health_token(database_url):
    from rds_web import create_app

    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                      "SECRET_KEY": "t", "BUS_PUBLISHER": object(), "HEALTH_TOKEN": "h" * 32})
    client = app.test_client()
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unavailable"}
    response = client.get("/api/v1/health", headers={"Authorization": "Bearer wrong"})
    assert response.json["database"] == "unavailable"
    response = client.get("/api/v1/health", headers={"Authorization": "Bearer " + "h" * 32})
    assert response.status_code == 503 and "127.0.0.1" in response.json["database"]


def test_api_responses_carry_the_security_headers(client):
    response = client.get("/api/v1/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_a_long_log_comes_back_as_its_tail(client, deployer, release_id, session_factory,
                                           monkeypatch):
    from rds_contracts import agents
    from rds_control import logs
    from rds_control.ingest import apply_event
    from rds_db.models import ReleaseRequest

    monkeypatch.setattr(logs, "API_BYTES", 100)
    with transaction(session_factory) as session:
        task_id = session.get(ReleaseRequest, release_id).tasks[0].id
    run_id = uuid.uuid4().hex
    texts = ["chunk %d %s\n" % (n, "y" * 40) for n in range(10)]
    for seq, event in enumerate([agents.TaskStarted(task_id=task_id, run_id=run_id, seq=1,
                                                    agent="host1/builder/1")]
                                + [agents.TaskLog(task_id=task_id, run_id=run_id, seq=n + 2,
                                                  text=text) for n, text in enumerate(texts)]):
        name = agents.TASK_STARTED if seq == 0 else agents.TASK_LOG
        with transaction(session_factory) as session:
            apply_event(session, name, event)
    log = client.get("/api/v1/releases/%d?log=1" % release_id,
                     headers=deployer).json["tasks"][0]["log"]
    whole = "".join(texts)
    assert log.startswith("[rds: %d earlier bytes" % (len(whole) - 100))
    assert log.endswith(whole[-100:]) and "chunk 0" not in log
