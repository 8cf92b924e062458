"""The JSON API: authentication, roles, validation, and the document."""
import pytest

ROUTES = [("GET", "/api/v1/projects"), ("POST", "/api/v1/projects"),
          ("GET", "/api/v1/projects/x"), ("PATCH", "/api/v1/projects/x"),
          ("POST", "/api/v1/projects/x/releases"), ("GET", "/api/v1/projects/x/releases"),
          ("POST", "/api/v1/projects/x/revert"), ("GET", "/api/v1/releases/1"),
          ("GET", "/api/v1/releases/1/wait"), ("POST", "/api/v1/releases/1/activate"),
          ("POST", "/api/v1/releases/1/rebuild"), ("POST", "/api/v1/releases/1/cancel"),
          ("DELETE", "/api/v1/releases/1"), ("GET", "/api/v1/agents")]
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
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == described
    assert "deploy_path" in document["components"]["schemas"]["ProjectInput"]["properties"]
