"""Retention and drift in the UI: the project page, the board banner, "Check servers",
and what "Delete" says it will do."""
from markupsafe import escape
from sqlalchemy import select

from rds_control import projects
from rds_db.models import Server, Task
from tests.web.web_support import in_tx


def set_drift(session_factory, project, items):
    def write(session):
        server = session.scalars(select(Server).where(
            Server.project_id == projects.get_project(session, project).id)
            .order_by(Server.id)).first()
        server.drift = items
        return server.label
    return in_tx(session_factory, write)


def test_the_project_page_shows_why_each_release_stays(as_viewer, make_project, make_release):
    project = make_project()
    make_release.installed(project)
    page = as_viewer.get("/projects/%s" % project).get_data(as_text=True)
    assert 'id="retention"' in page
    assert "one of the newest 5 successful releases" in page


def test_drift_is_shown_on_the_project_page_and_the_board(as_viewer, make_project,
                                                          session_factory):
    project = make_project()
    detail = "current points at releases/1.00.009.9, rds thinks 1.00.002.2 is live"
    label = set_drift(session_factory, project, [{"kind": "current", "detail": detail}])

    project_page = as_viewer.get("/projects/%s" % project).get_data(as_text=True)
    board = as_viewer.get("/?project=%s" % project).get_data(as_text=True)

    assert str(escape(detail)) in project_page
    assert "banner-drift" in project_page and 'id="drift-banners"' in project_page
    assert "/events?view=project" in project_page  # banners and servers table are live
    assert "banner-drift" in board and label in board and str(escape(detail)) in board
    set_drift(session_factory, project, [])
    assert "banner-drift" not in as_viewer.get("/?project=%s" % project).get_data(as_text=True)


def test_check_servers_starts_an_inspection(as_deployer, make_project, session_factory, bus):
    project = make_project()
    page = as_deployer.get("/projects/%s" % project).get_data(as_text=True)
    assert 'id="check-servers"' in page

    response = as_deployer.post("/projects/%s/check-servers" % project)

    assert response.status_code == 302
    kinds = in_tx(session_factory, lambda s: [t.kind for t in s.scalars(select(Task).where(
        Task.project_id == projects.get_project(s, project).id))])
    assert kinds.count("inspect") == 1


def test_a_viewer_cannot_check_servers(as_viewer, make_project):
    project = make_project()
    assert 'id="check-servers"' not in as_viewer.get("/projects/%s" % project).get_data(
        as_text=True)
    assert as_viewer.post("/projects/%s/check-servers" % project).status_code == 403


def test_delete_says_when_the_files_go(as_deployer, make_project, make_release):
    project = make_project()
    make_release.installed(project)
    page = as_deployer.get("/?project=%s" % project).get_data(as_text=True)
    assert "automatic removal is not built yet" not in page
    assert str(escape("rds removes its files from every server about 6 hours later")) in page
