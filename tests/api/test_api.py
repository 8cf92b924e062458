"""The JSON API: authentication, roles, validation, and the document."""
import pytest

ROUTES = [("GET", "/api/v1/projects"), ("POST", "/api/v1/projects"),
          ("GET", "/api/v1/projects/x"), ("PATCH", "/api/v1/projects/x"),
          ("POST", "/api/v1/projects/x/releases"), ("GET", "/api/v1/projects/x/releases"),
          ("POST", "/api/v1/projects/x/revert"), ("GET", "/api/v1/releases/1"),
          ("GET", "/api/v1/releases/1/wait"), ("POST", "/api/v1/releases/1/activate"),
          ("POST", "/api/v1/releases/1/rebuild"), ("POST", "/api/v1/releases/1/cancel"),
          ("DELETE", "/api/v1/releases/1"), ("GET", "/api/v1/agents"),
          ("POST", "/api/v1/releases/1/pin"), ("POST", "/api/v1/releases/1/unpin")]
WRITES = [r for r in ROUTES if r[0] != "GET"]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer rds_not-a-real-token", "Basic abc"])
def test_it_requires_a_valid_token(client, method, path, header):
    headers = {"Authorization": header} if header else {}
    response = client.open(path, method=method, headers=headers, json={})
    assert response.status_code == 401 and "token" in response.json["error"]


@pytest.mark.parametrize("method, path", WRITES)
def test_a_viewer_cannot_change_anything(client, persona, method, path):
    response = client.open(path, method=method, headers=persona("viewer"), json={})
    assert response.status_code == 403 and "viewer" in response.json["error"]


def test_health_needs_no_token(client):
    assert client.get("/api/v1/health").json == {"status": "ok", "database": "ok"}


def test_a_deployer_creates_a_project_and_releases_it(client, persona, publisher, project_body):
    headers = persona("deployer")
    body = project_body()
    assert client.post("/api/v1/projects", headers=headers, json=body).status_code == 201
    response = client.post("/api/v1/projects/%s/releases" % body["name"], headers=headers,
                           json={"comment": "ship it", "ref": "main"})
    assert response.status_code == 201
    release = response.json
    assert (release["version"], release["status"], release["comment"]) == (
        "1.00.001.1", "new", "ship it")
    command, pool = publisher.sent[-1]
    assert (command.project, command.version, pool) == (body["name"], "1.00.001.1", "default")
    shown = client.get("/api/v1/releases/%d" % release["id"], headers=headers).json
    assert shown["tasks"][0]["kind"] == "build" and shown["author"].startswith("deployer-")


@pytest.mark.parametrize("field, value", [("name", "../x"), ("deploy_path", "../../etc"),
                                          ("servers", [{"host": "-oProxyCommand=x",
                                                        "user": "u"}]),
                                          ("scripts", {"nope": "x"}), ("keep_releases", 1)])
def test_bad_project_fields_are_named_and_nothing_is_created(client, persona, project_body,
                                                             field, value):
    headers = persona("deployer")
    body = project_body(**{field: value})
    response = client.post("/api/v1/projects", headers=headers, json=body)
    assert response.status_code == 400 and response.json["field"].startswith(field)
    assert client.get("/api/v1/projects/%s" % body["name"], headers=headers).status_code in (
        404, 400)


def test_malformed_json_is_a_clear_400(client, persona):
    response = client.post("/api/v1/projects", headers=dict(
        persona("deployer"), **{"Content-Type": "application/json"}), data="{not json")
    assert response.status_code == 400 and "JSON" in response.json["error"]


def test_activating_a_release_that_is_building_is_a_conflict(client, persona, project_body):
    headers = persona("deployer")
    body = project_body()
    client.post("/api/v1/projects", headers=headers, json=body)
    release = client.post("/api/v1/projects/%s/releases" % body["name"], headers=headers,
                          json={}).json
    response = client.post("/api/v1/releases/%d/activate" % release["id"], headers=headers)
    assert response.status_code == 409 and "is new" in response.json["error"]


def test_unknown_things_are_404(client, persona):
    headers = persona("viewer")
    assert client.get("/api/v1/projects/nope", headers=headers).status_code == 404
    assert client.get("/api/v1/releases/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/nothing-here", headers=headers).json["error"]


def test_the_openapi_document_describes_every_route(app, client):
    document = client.get("/api/v1/openapi.json").json
    described = {(method.upper(), "/api/v1" + path) for path, ops in document["paths"].items()
                 for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = (rule.rule.replace("<int:", "{").replace("<path:", "{").replace("<", "{")
                    .replace(">", "}"))
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == described
    assert "deploy_path" in document["components"]["schemas"]["ProjectInput"]["properties"]


@pytest.fixture
def installed(client, persona, project_body, session_factory):
    """A release marked installed and ready on its one server (as ingest would)."""
    from rds_db.models import ReleaseRequest, ReleaseTarget
    from rds_db.models.base import utcnow
    from rds_db.session import transaction

    headers = persona("deployer")
    body = project_body()
    client.post("/api/v1/projects", headers=headers, json=body)
    release = client.post("/api/v1/projects/%s/releases" % body["name"], headers=headers,
                          json={}).json
    with transaction(session_factory) as session:
        row = session.get(ReleaseRequest, release["id"])
        row.status = "installed"
        for task in row.tasks:
            task.status, task.finished_at = "succeeded", utcnow()
        session.add(ReleaseTarget(release_id=row.id, server_id=row.project.servers[0].id,
                                  state="ready", updated_at=utcnow()))
    return release["id"], headers


@pytest.fixture
def deployment_off(deployment_switch):
    deployment_switch(False, "incident 7")


def test_the_reported_actions_are_the_ones_enforced(client, installed, persona):
    release_id, headers = installed
    shown = client.get("/api/v1/releases/%d" % release_id, headers=headers).json
    assert shown["actions"]["activate"] == {"allowed": True, "reason": None}
    assert shown["can_activate"] is True
    assert shown["actions"]["cancel"]["allowed"] is False
    as_viewer = client.get("/api/v1/releases/%d" % release_id, headers=persona("viewer")).json
    assert as_viewer["actions"]["activate"] == {
        "allowed": False, "reason": "your role (viewer) may not deploy"}


def test_a_refusal_says_what_the_actions_said(client, installed, deployment_off):
    release_id, headers = installed
    answer = client.get("/api/v1/releases/%d" % release_id, headers=headers).json["actions"][
        "activate"]
    assert answer["allowed"] is False and "incident 7" in answer["reason"]
    response = client.post("/api/v1/releases/%d/activate" % release_id, headers=headers)
    assert response.status_code == 403 and response.json["error"] == answer["reason"]


def test_pin_and_unpin(client, installed):
    release_id, headers = installed
    pinned = client.post("/api/v1/releases/%d/pin" % release_id, headers=headers)
    assert pinned.status_code == 200 and pinned.json["pinned"] is True
    assert pinned.json["actions"]["delete"]["reason"].endswith("unpin it first")
    again = client.post("/api/v1/releases/%d/pin" % release_id, headers=headers)
    assert again.status_code == 409 and "already pinned" in again.json["error"]
    refused = client.delete("/api/v1/releases/%d" % release_id, headers=headers)
    assert refused.status_code == 409
    unpinned = client.post("/api/v1/releases/%d/unpin" % release_id, headers=headers)
    assert unpinned.json["pinned"] is False
    assert client.delete("/api/v1/releases/%d" % release_id, headers=headers).status_code == 200


def test_release_lists_page_by_version_in_a_fixed_number_of_queries(app, client, persona,
                                                                     project_body):
    from sqlalchemy import event

    headers = persona("deployer")
    body = project_body()
    client.post("/api/v1/projects", headers=headers, json=body)
    base = "/api/v1/projects/%s/releases" % body["name"]
    for _ in range(6):  # each build is cancelled at once, so the next may start
        release = client.post(base, headers=headers, json={}).json
        client.post("/api/v1/releases/%d/cancel" % release["id"], headers=headers)
    engine = app.extensions["rds_db"].kw["bind"]
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        page = client.get(base + "?limit=4", headers=headers).json["releases"]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert [r["version"] for r in page] == ["1.00.006.6", "1.00.005.5", "1.00.004.4",
                                            "1.00.003.3"]
    assert len(statements) <= 16, "\n".join(statements)
    rest = client.get(base + "?limit=4&before=1.00.003.3", headers=headers).json["releases"]
    assert [r["version"] for r in rest] == ["1.00.002.2", "1.00.001.1"]
    for bad in ("limit=0", "limit=501", "limit=x", "before=../1"):
        response = client.get(base + "?" + bad, headers=headers)
        assert response.status_code == 400 and response.json["field"] in ("limit", "before")
