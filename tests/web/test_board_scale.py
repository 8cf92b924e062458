"""The board at scale: rows of child releases (parent/child projects) read their parent
with the page, not one query per row."""
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from rds_db.models import ReleaseRequest
from tests.web.web_support import in_tx, seed_releases


def _statements(app: Flask, client: Any, project: str) -> list[str]:
    engine = app.extensions["rds_db"].kw["bind"]
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get("/?project=%s" % project)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("part of <a href") >= 3
    return statements


def test_child_rows_read_their_parents_in_a_fixed_number_of_queries(
        app: Flask, as_viewer: Any, make_project: Callable[..., str],
        session_factory: Any) -> None:
    def family(children: int) -> str:
        parent, child = make_project(), make_project()
        parents = seed_releases(session_factory, parent, children)
        kids = seed_releases(session_factory, child, children)

        def link(session: Session) -> None:
            for kid, mother in zip(kids, parents):
                session.execute(update(ReleaseRequest).where(ReleaseRequest.id == kid)
                                .values(parent_id=mother))
        in_tx(session_factory, link)
        return child

    few, many = (_statements(app, as_viewer, family(n)) for n in (3, 25))
    assert len(many) == len(few), "\n".join(many)
