"""Retention dry run, check-servers and drift over the JSON API."""
from sqlalchemy import select

from rds_contracts.gc import InspectServersCommand
from rds_db.models import Server, Task
from rds_db.session import transaction


def test_retention_shows_what_goes_and_why_the_rest_stays(client, persona, project_body):
    headers = persona("deployer")
    body = project_body()
    client.post("/api/v1/projects", headers=headers, json=body)
    client.post("/api/v1/projects/%s/releases" % body["name"], headers=headers, json={})

    plan = client.get("/api/v1/projects/%s/retention" % body["name"],
                      headers=persona("viewer"))

    assert plan.status_code == 200
    assert plan.json["keep_releases"] == 5 and plan.json["remove"] == []
    [kept] = plan.json["keep"]
    assert kept["verdict"] == "task_running" and "task is running" in kept["reason"]
    assert client.get("/api/v1/projects/nope/retention", headers=headers).status_code == 404


def test_check_servers_starts_one_inspection_and_shows_drift(client, persona, project_body,
                                                             publisher, session_factory):
    headers = persona("deployer")
    body = project_body()
    client.post("/api/v1/projects", headers=headers, json=body)

    started = client.post("/api/v1/projects/%s/check-servers" % body["name"], headers=headers)
    again = client.post("/api/v1/projects/%s/check-servers" % body["name"], headers=headers)

    assert started.status_code == 202 and again.json == started.json
    [(command, pool)] = publisher.sent
    assert isinstance(command, InspectServersCommand) and command.project == body["name"]
    with transaction(session_factory) as session:
        task = session.get(Task, started.json["task_id"])
        assert task.kind == "inspect"
        server = session.scalars(select(Server).where(
            Server.project_id == task.project_id)).one()
        server.drift = [{"kind": "current", "detail": "current points at releases/x"}]
    project = client.get("/api/v1/projects/%s" % body["name"], headers=headers).json
    assert project["servers"][0]["drift"] == [
        {"kind": "current", "detail": "current points at releases/x"}]


def test_a_viewer_may_not_check_servers(client, persona, project_body):
    body = project_body()
    client.post("/api/v1/projects", headers=persona("deployer"), json=body)
    refused = client.post("/api/v1/projects/%s/check-servers" % body["name"],
                          headers=persona("viewer"))
    assert refused.status_code == 403
