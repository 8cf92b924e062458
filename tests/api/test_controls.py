"""Bans, the deployment switch and release lines through the JSON API, per role."""
from datetime import UTC, datetime, timedelta

import pytest

API = "/api/v1"


@pytest.fixture
def project(client, persona, project_body):
    body = project_body()
    assert client.post(API + "/projects", headers=persona("deployer"), json=body).status_code \
        == 201
    return body["name"]


def test_a_deployer_bans_a_project_and_its_releases_are_refused_until_lifted(
        client, persona, project):
    deployer, viewer = persona("deployer"), persona("viewer")
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    refused = client.post(API + "/projects/%s/bans" % project, headers=viewer,
                          json={"comment": "no"})
    assert refused.status_code == 403
    response = client.post(API + "/projects/%s/bans" % project, headers=deployer,
                           json={"comment": "holiday freeze", "expires_at": until.isoformat()})
    assert response.status_code == 201, response.json
    ban = response.json
    assert (ban["project"], ban["release_line"], ban["comment"]) == (project, 1, "holiday freeze")
    assert datetime.fromisoformat(ban["expires_at"]) == until and ban["author"]
    listed = client.get(API + "/projects/%s/bans" % project, headers=viewer).json["bans"]
    assert [b["id"] for b in listed] == [ban["id"]]
    assert ban["id"] in [b["id"] for b in client.get(API + "/bans", headers=viewer).json["bans"]]

    blocked = client.post(API + "/projects/%s/releases" % project, headers=deployer, json={})
    assert blocked.status_code == 403 and "holiday freeze" in blocked.json["error"]

    assert client.post(API + "/bans/%d/lift" % ban["id"], headers=viewer).status_code == 403
    lifted = client.post(API + "/bans/%d/lift" % ban["id"], headers=persona("admin"))
    assert lifted.status_code == 200 and lifted.json["lifted_by"]
    assert client.post(API + "/bans/%d/lift" % ban["id"], headers=deployer).status_code == 409
    assert client.get(API + "/projects/%s/bans" % project, headers=viewer).json["bans"] == []
    assert client.post(API + "/projects/%s/releases" % project, headers=deployer,
                       json={}).status_code == 201


@pytest.mark.parametrize("body, field", [
    ({"comment": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"comment": "x", "release_line": 4}, "release_line"),
    ({"comment": "x", "expires_at": 1e400}, "expires_at"),
    ({"comment": "a\u0000b"}, "comment"),
    ({}, "comment"),
])
def test_a_bad_ban_is_refused_with_the_field_and_nothing_is_saved(client, persona, project,
                                                                  body, field):
    headers = persona("deployer")
    response = client.post(API + "/projects/%s/bans" % project, headers=headers, json=body)
    assert (response.status_code, response.json["field"]) == (400, field)
    assert client.get(API + "/projects/%s/bans" % project, headers=headers).json["bans"] == []


def test_only_an_admin_switches_deployment_and_it_stops_releases(client, persona, project,
                                                                 deployment_switch):
    deployer, admin = persona("deployer"), persona("admin")
    refused = client.put(API + "/deployment", headers=deployer,
                         json={"enabled": False, "reason": "incident"})
    assert refused.status_code == 403 and "only an admin" in refused.json["error"]
    assert client.get(API + "/deployment", headers=deployer).json["enabled"] is True
    no_reason = client.put(API + "/deployment", headers=admin, json={"enabled": False})
    assert (no_reason.status_code, no_reason.json["field"]) == (400, "reason")

    off = client.put(API + "/deployment", headers=admin,
                     json={"enabled": False, "reason": "incident 9"})
    assert off.status_code == 200 and off.json["reason"] == "incident 9"
    assert off.json["changed_by"]
    blocked = client.post(API + "/projects/%s/releases" % project, headers=deployer, json={})
    assert blocked.status_code == 403 and "incident 9" in blocked.json["error"]

    assert client.put(API + "/deployment", headers=admin, json={"enabled": True}).json == {
        **client.get(API + "/deployment", headers=deployer).json, "enabled": True}
    assert client.post(API + "/projects/%s/releases" % project, headers=deployer,
                       json={}).status_code == 201


def test_a_new_release_line_through_the_api(client, persona, project):
    deployer, viewer = persona("deployer"), persona("viewer")
    assert client.get(API + "/projects/%s/lines" % project, headers=viewer).json == {
        "project": project, "current": 1, "lines": [1]}
    assert client.post(API + "/projects/%s/lines" % project, headers=viewer,
                       json={}).status_code == 403
    created = client.post(API + "/projects/%s/lines" % project, headers=deployer, json={})
    assert created.status_code == 201 and created.json["current"] == 2
    again = client.post(API + "/projects/%s/lines" % project, headers=deployer,
                        json={"number": 2})
    assert (again.status_code, again.json["field"]) == (400, "number")
    release = client.post(API + "/projects/%s/releases" % project, headers=deployer, json={})
    assert release.json["version"] == "2.00.001.1"
    unknown = client.post(API + "/projects/%s/releases" % project, headers=deployer,
                          json={"release_line": 5})
    assert (unknown.status_code, unknown.json["field"]) == (400, "release_line")


def test_notification_channels_through_the_api(client, persona, project):
    deployer, viewer = persona("deployer"), persona("viewer")
    url = API + "/projects/%s/notifications" % project
    hook = {"kind": "webhook", "target": "https://hooks.example.com/rds?token=t0p",
            "secret": "k" * 32, "events": ["activated", "rolled_back"]}
    assert client.post(url, headers=viewer, json=hook).status_code == 403
    for bad, field in ((dict(hook, target="file:///etc/passwd"), "target"),
                       ({"kind": "email", "target": "ops at example.com"}, "target"),
                       (dict(hook, events=["built"]), "events.0")):
        response = client.post(url, headers=deployer, json=bad)
        assert (response.status_code, response.json["field"]) == (400, field)
    assert client.get(url, headers=viewer).json["channels"] == []
    created = client.post(url, headers=deployer, json=hook)
    assert created.status_code == 201, created.json
    channel = created.json
    assert channel["target"] == "https://hooks.example.com/…"  # the token is not shown back
    assert "secret" not in channel and channel["failing"] is False
    assert channel["events"] == ["activated", "rolled_back"]
    assert [c["id"] for c in client.get(url, headers=viewer).json["channels"]] == [channel["id"]]
    assert client.delete(API + "/notifications/%d" % channel["id"],
                         headers=deployer).status_code == 200
    assert client.delete(API + "/notifications/%d" % channel["id"],
                         headers=deployer).status_code == 404


def test_parent_and_child_projects_through_the_api(client, persona, project_body):
    deployer, viewer = persona("deployer"), persona("viewer")
    names = []
    for _ in range(3):
        body = project_body()
        assert client.post(API + "/projects", headers=deployer, json=body).status_code == 201
        names.append(body["name"])
    parent, one, two = names
    assert client.post(API + "/projects/%s/children" % parent, headers=viewer,
                       json={"child": one}).status_code == 403
    for child in (one, two):
        linked = client.post(API + "/projects/%s/children" % parent, headers=deployer,
                             json={"child": child})
        assert linked.status_code == 201
    assert linked.json == {"project": parent, "parent": None, "children": sorted([one, two])}
    cycle = client.post(API + "/projects/%s/children" % one, headers=deployer,
                        json={"child": parent})
    assert (cycle.status_code, cycle.json["field"]) == (400, "child")
    assert "cycle" in cycle.json["error"]
    assert client.get(API + "/projects/%s/family" % one, headers=viewer).json["parent"] == parent

    release = client.post(API + "/projects/%s/releases" % parent, headers=deployer, json={})
    assert release.status_code == 201
    for child in (one, two):
        [made] = client.get(API + "/projects/%s/releases" % child, headers=viewer).json[
            "releases"]
        assert made["version"] == "1.00.001.1"

    unlinked = client.delete(API + "/projects/%s/children/%s" % (parent, two), headers=deployer)
    assert unlinked.status_code == 200 and unlinked.json["children"] == [one]
