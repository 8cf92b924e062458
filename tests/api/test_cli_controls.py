"""The ``rds ban``/``deployment``/``line`` verbs against the API served over real HTTP."""
import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from rds_web.cli import main


@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()
    thread.join()


@pytest.fixture
def rds(served):
    def invoke(headers, *args):
        token = headers["Authorization"].split(" ", 1)[1]
        result = CliRunner().invoke(main, list(args),
                                    env={"RDS_URL": served, "RDS_TOKEN": token})
        return result.exit_code, result.output
    return invoke


def test_ban_set_list_lift_and_the_switch_from_the_cli(rds, persona, client, project_body,
                                                       session_factory):
    deployer, admin = persona("deployer"), persona("admin")
    body = project_body()
    assert client.post("/api/v1/projects", headers=deployer, json=body).status_code == 201
    name = body["name"]

    code, out = rds(deployer, "ban", "set", name, "--comment", "freeze",
                    "--until", "2001-01-01T00:00Z")
    assert code == 1 and "HTTP 400" in out and "expires_at" in out
    code, out = rds(deployer, "ban", "set", name, "--comment", "freeze",
                    "--until", "2099-01-01T00:00Z")
    assert code == 0, out
    ban = json.loads(out)
    assert ban["comment"] == "freeze" and ban["expires_at"].startswith("2099-01-01")
    code, out = rds(deployer, "ban", "list", name)
    assert [b["id"] for b in json.loads(out)["bans"]] == [ban["id"]]
    code, out = rds(persona("viewer"), "ban", "lift", str(ban["id"]))
    assert code == 1 and "HTTP 403" in out
    code, out = rds(deployer, "ban", "lift", str(ban["id"]))
    assert code == 0 and json.loads(out)["lifted_at"]

    code, out = rds(deployer, "deployment", "off", "--reason", "incident")
    assert code == 1 and "only an admin" in out
    try:
        code, out = rds(admin, "deployment", "off", "--reason", "incident")
        assert code == 0 and json.loads(out)["enabled"] is False
        code, out = rds(deployer, "deployment", "show")
        assert json.loads(out)["reason"] == "incident"
    finally:
        code, out = rds(admin, "deployment", "on")
    assert code == 0 and json.loads(out)["enabled"] is True

    code, out = rds(deployer, "line", "create", name, "--name", "v2")
    assert code == 0 and json.loads(out)["current"] == 2
    code, out = rds(deployer, "line", "show", name)
    assert json.loads(out)["lines"] == [1, 2]


def test_notification_channels_from_the_cli(rds, persona, client, project_body):
    deployer = persona("deployer")
    body = project_body()
    assert client.post("/api/v1/projects", headers=deployer, json=body).status_code == 201
    code, out = rds(deployer, "notify", "add", body["name"], "--webhook", "ftp://x.example")
    assert code == 1 and "HTTP 400" in out and "target" in out
    code, out = rds(deployer, "notify", "add", body["name"], "--email", "ops@example.com",
                    "--event", "installed", "--event", "build_failed")
    assert code == 0, out
    channel = json.loads(out)
    assert channel["events"] == ["build_failed", "installed"]
    code, out = rds(persona("viewer"), "notify", "list", body["name"])
    assert [c["target"] for c in json.loads(out)["channels"]] == ["ops@example.com"]
    code, out = rds(deployer, "notify", "remove", str(channel["id"]))
    assert code == 0 and json.loads(out) == {"removed": "email ops@example.com"}


def test_linking_projects_from_the_cli(rds, persona, client, project_body):
    deployer = persona("deployer")
    names = []
    for _ in range(2):
        body = project_body()
        assert client.post("/api/v1/projects", headers=deployer, json=body).status_code == 201
        names.append(body["name"])
    code, out = rds(deployer, "family", "link", names[0], names[1])
    assert code == 0 and json.loads(out)["children"] == [names[1]]
    code, out = rds(deployer, "family", "link", names[1], names[0])
    assert code == 1 and "HTTP 400" in out and "cycle" in out
    code, out = rds(persona("viewer"), "family", "show", names[1])
    assert json.loads(out)["parent"] == names[0]
    code, out = rds(deployer, "family", "unlink", names[0], names[1])
    assert code == 0 and json.loads(out)["children"] == []
