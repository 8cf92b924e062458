"""API lists at scale: a fixed number of queries whatever the page size, the list's fast
JSON equal to what the models validate, and token auth that reads without writing."""
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from rds_control import users
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_web.api.schemas import ProjectList, ReleaseList

Headers = dict[str, str]


@contextmanager
def recorded(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block."""
    engine = app.extensions["rds_db"].kw["bind"]
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def body(response: Any) -> dict[str, Any]:
    """A JSON response's body."""
    data = response.json
    assert isinstance(data, dict), response
    return data


def _releases(client: FlaskClient, headers: Headers, name: str, count: int) -> None:
    base = "/api/v1/projects/%s/releases" % name
    for _ in range(count):  # each build is cancelled at once, so the next may start
        release = body(client.post(base, headers=headers, json={}))
        client.post("/api/v1/releases/%d/cancel" % release["id"], headers=headers)


def test_the_project_list_costs_the_same_queries_for_3_or_25_projects(
        app: Flask, client: FlaskClient, persona: Callable[[str], Headers],
        project_body: Callable[..., dict[str, Any]]) -> None:
    headers = persona("deployer")

    def queries_with(projects: int) -> int:
        while len(body(client.get("/api/v1/projects", headers=headers))["projects"]) < projects:
            new = project_body(name="lists-%s" % uuid.uuid4().hex[:8],
                               servers=[{"host": "10.1.1.%d" % n, "user": "deploy"}
                                        for n in range(1, 4)])
            assert client.post("/api/v1/projects", headers=headers, json=new).status_code == 201
            _releases(client, headers, new["name"], 1)
        client.get("/api/v1/projects", headers=headers)  # the token's use is recorded
        with recorded(app) as statements:
            listed = body(client.get("/api/v1/projects", headers=headers))["projects"]
        assert len(listed) >= projects and all(len(p["servers"]) == 3 for p in listed
                                               if p["name"].startswith("lists-"))
        return len(statements)

    assert queries_with(3) == queries_with(25)


def test_listed_projects_equal_the_shown_ones_and_validate(
        client: FlaskClient, persona: Callable[[str], Headers],
        project_body: Callable[..., dict[str, Any]]) -> None:
    headers = persona("deployer")
    new = project_body(servers=[{"host": "10.1.3.%d" % n, "user": "deploy"}
                                for n in range(1, 3)], shared_files=["config/app.yml"])
    assert client.post("/api/v1/projects", headers=headers, json=new).status_code == 201
    _releases(client, headers, new["name"], 1)
    listed = body(client.get("/api/v1/projects", headers=headers))
    ProjectList.model_validate(listed)  # what the list writes is what the model promises
    assert listed["projects"]
    for project in listed["projects"]:
        assert project == body(client.get("/api/v1/projects/%s" % project["name"],
                                          headers=headers))


def test_release_pages_of_3_and_25_cost_the_same_queries_and_equal_the_shown_releases(
        app: Flask, client: FlaskClient, persona: Callable[[str], Headers],
        project_body: Callable[..., dict[str, Any]]) -> None:
    headers = persona("deployer")
    new = project_body(servers=[{"host": "10.1.2.%d" % n, "user": "deploy"}
                                for n in range(1, 3)])
    client.post("/api/v1/projects", headers=headers, json=new)
    _releases(client, headers, new["name"], 25)
    base = "/api/v1/projects/%s/releases" % new["name"]
    client.get(base, headers=headers)  # the token's use is recorded
    counts = []
    for limit in (3, 25):
        with recorded(app) as statements:
            response = client.get(base + "?limit=%d" % limit, headers=headers)
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert len(body(response)["releases"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1]
    listed = body(response)
    assert ReleaseList.model_validate(listed).model_dump(mode="json") == listed
    for release in listed["releases"]:
        shown = body(client.get("/api/v1/releases/%d" % release["id"], headers=headers))
        assert shown == release


def test_a_token_is_marked_used_at_most_once_a_minute(
        app: Flask, client: FlaskClient, session_factory: Any,
        persona: Callable[[str], Headers]) -> None:
    headers = persona("viewer")
    token = headers["Authorization"].split()[1]
    now = utcnow()
    with transaction(session_factory) as session:
        user, stale = users.user_for_token(session, token, now=now)
        assert user is not None and stale is not None  # never used yet
        users.touch_token(session, stale, now=now)
    user_id = user.id
    with transaction(session_factory) as session:
        seconds = users.TOKEN_TOUCH_SECONDS
        soon, stale_soon = users.user_for_token(session, token, now=now + timedelta(
            seconds=seconds - 1))
        later, stale_later = users.user_for_token(session, token, now=now + timedelta(
            seconds=seconds))
    assert soon is not None and later is not None and soon.id == later.id == user_id
    assert (stale_soon, stale_later) == (None, stale)
    with recorded(app) as statements:  # marked used just now: the request only reads
        assert client.get("/api/v1/agents", headers=headers).status_code == 200
    assert not [s for s in statements if not s.lstrip().upper().startswith("SELECT")], (
        statements)
