"""Config files through the API: roles, secrets, bad input, history."""
import pytest

SECRET = "API_KEY=s3cr3t\n"


@pytest.fixture
def project(client, persona, project_body):
    body = project_body()
    assert client.post("/api/v1/projects", json=body,
                       headers=persona("deployer")).status_code == 201
    return body["name"]


def test_a_deployer_saves_versions_and_reads_the_history(client, persona, project, publisher):
    deployer = persona("deployer")
    url = "/api/v1/projects/%s/configs/config/local.yml" % project
    first = client.put(url, json={"content": "a: 1\n", "comment": "first"}, headers=deployer)
    assert first.status_code == 201, first.json
    second = client.put(url, json={"content": SECRET}, headers=deployer)
    assert (second.json["version"], second.json["revision"]) == (2, 2)
    assert second.json["upload_state"] == "pending"
    shown = client.get(url, headers=deployer).json
    assert shown["content"] == SECRET
    assert [(v["version"], v["comment"]) for v in shown["versions"]] == [(2, ""), (1, "first")]
    assert shown["versions"][1]["author"].startswith("deployer-")
    old = client.get(url + "/versions/1", headers=deployer).json
    assert old["content"] == "a: 1\n"
    assert [c.model_dump()["revision"] for c, _ in publisher.sent[-2:]] == [1, 2]


def test_a_viewer_never_gets_contents(client, persona, project):
    url = "/api/v1/projects/%s/configs/.env" % project
    client.put(url, json={"content": SECRET}, headers=persona("deployer"))
    viewer = persona("viewer")
    for response in (client.get(url, headers=viewer),
                     client.get(url + "/versions/1", headers=viewer),
                     client.get("/api/v1/projects/%s/configs" % project, headers=viewer)):
        assert response.status_code == 200
        assert "s3cr3t" not in response.get_data(as_text=True)
    assert client.get(url, headers=viewer).json["content_hidden"] is True
    assert client.put(url, json={"content": "x"}, headers=viewer).status_code == 403
    assert client.delete(url, headers=viewer).status_code == 403


@pytest.mark.parametrize("filename, body, field", [
    ("..%2F..%2Fetc%2Fpasswd", {"content": "x"}, "filename"),
    ("a/../../b", {"content": "x"}, "filename"),
    (".env", {"content": "a\u0000b"}, "content"),
    (".env", {"content": "x" * (1024 * 1024 + 1)}, "content"),
    (".env", {"content": "x", "extra": 1}, "extra"),
])
def test_bad_input_is_refused_naming_the_field(client, persona, project, filename, body,
                                               field, publisher):
    headers = persona("deployer")
    response = client.put("/api/v1/projects/%s/configs/%s" % (project, filename), json=body,
                          headers=headers)
    assert response.status_code == 400
    assert response.json["field"] == field
    listing = client.get("/api/v1/projects/%s/configs" % project, headers=headers).json
    assert listing["files"] == [] and listing["revision"] == 0
    assert publisher.sent == []


def test_delete_keeps_the_history(client, persona, project):
    headers = persona("deployer")
    url = "/api/v1/projects/%s/configs/.env" % project
    client.put(url, json={"content": SECRET}, headers=headers)
    deleted = client.delete(url, json={"comment": "not needed"}, headers=headers)
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert client.get(url, headers=headers).status_code == 404
    assert client.get(url + "/versions/1", headers=headers).json["content"] == SECRET
    assert client.get("/api/v1/projects/%s/configs" % project,
                      headers=headers).json["revision"] == 2


def test_a_server_check_is_queued_and_files_report_what_servers_hold(client, persona, project,
                                                                     publisher):
    headers = persona("deployer")
    client.put("/api/v1/projects/%s/configs/.env" % project, json={"content": SECRET},
               headers=headers)
    checked = client.post("/api/v1/projects/%s/configs/check" % project, headers=headers)
    assert checked.status_code == 202
    command = publisher.sent[-1][0]
    assert command.task_id == checked.json["task_id"] and command.names == [".env"]
    shown = client.get("/api/v1/projects/%s/configs/.env" % project, headers=headers).json
    assert shown["servers"] == [] and shown["servers_checked_at"] is None
    assert client.post("/api/v1/projects/%s/configs/check" % project,
                       headers=persona("viewer")).status_code == 403
