"""Bans, the deployment switch and release lines in the UI (Flask client, CSRF on)."""
import re

from rds_control import controls
from tests.web.web_support import in_tx


def page_of(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def bans_of(session_factory, project):
    return in_tx(session_factory, lambda s: [(b.id, b.comment, b.author.username)
                                             for b in controls.active_bans(s, project)])


def test_a_deployer_bans_from_the_project_page_and_the_board_shows_it(
        as_deployer, as_viewer, deployer, make_project, session_factory):
    project = make_project()
    page = page_of(as_deployer, "/projects/" + project)
    assert 'id="ban-form"' in page and "No release ban in force" in page
    assert 'id="ban-form"' not in page_of(as_viewer, "/projects/" + project)
    response = as_deployer.post("/bans", {"project": project, "comment": "holiday freeze",
                                          "expires_at": "2099-12-24T18:00",
                                          "next": "/projects/" + project})
    assert response.status_code == 302 and response.headers["Location"] == "/projects/" + project
    [(ban_id, comment, author)] = bans_of(session_factory, project)
    assert (comment, author) == ("holiday freeze", deployer)
    board = page_of(as_viewer, "/?project=" + project)
    row = re.search(r'<tr class="ban" data-ban-id="%d".*?</tr>' % ban_id, board, re.S).group(0)
    assert "holiday freeze" in row and deployer in row and "2099-12-24 18:00:00 UTC" in row
    assert 'data-action="lift-ban"' not in row  # viewers see it, cannot lift it
    refused = as_deployer.post("/releases", {"project": project, "comment": "x"})
    assert refused.status_code == 403 and "holiday freeze" in refused.get_data(as_text=True)

    assert as_viewer.post("/bans/%d/lift" % ban_id).status_code == 403
    assert as_deployer.post("/bans/%d/lift" % ban_id).status_code == 302
    assert bans_of(session_factory, project) == []
    assert "Lifted the release ban of %s line 1" % project in page_of(as_deployer, "/")


def test_a_bad_ban_from_the_form_names_the_field_and_saves_nothing(as_deployer, make_project,
                                                                   session_factory):
    project = make_project()
    as_deployer.post("/bans", {"project": project, "comment": "x",
                               "expires_at": "2001-01-01T00:00"})
    assert "expires_at: the expiry" in page_of(as_deployer, "/")
    as_deployer.post("/bans", {"project": project, "comment": "x", "release_line": "9"})
    assert "release_line: project %s has no release line 9" % project \
        in page_of(as_deployer, "/")
    as_deployer.post("/bans", {"comment": "x"})
    assert "project: choose the project" in page_of(as_deployer, "/")
    assert bans_of(session_factory, project) == []


def test_an_admin_switches_deployment_off_and_every_page_shows_the_banner(
        as_admin, as_deployer, as_viewer, deployment_switch):
    assert 'id="switch-form"' in page_of(as_admin, "/")
    assert 'id="switch-form"' not in page_of(as_deployer, "/")
    assert as_deployer.post("/deployment", {"enabled": "off", "reason": "x"}).status_code == 302
    assert "only an admin may switch deployment" in page_of(as_deployer, "/")
    assert 'id="deployment-off"' not in page_of(as_viewer, "/projects")

    as_admin.post("/deployment", {"enabled": "off", "reason": "datacenter move"})
    for url in ("/", "/projects", "/agents", "/audit"):
        page = page_of(as_viewer, url)
        assert 'id="deployment-off"' in page and "datacenter move" in page, url
        assert 'id="switch-on"' not in page
    assert 'id="switch-on"' in page_of(as_admin, "/projects")
    as_admin.post("/deployment", {"enabled": "on"})
    assert 'id="deployment-off"' not in page_of(as_viewer, "/")


def test_a_new_release_line_from_the_project_page(as_deployer, as_viewer, make_project):
    project = make_project()
    assert '<strong id="current-line">1</strong>' in page_of(as_viewer, "/projects/" + project)
    assert 'id="line-form"' not in page_of(as_viewer, "/projects/" + project)
    assert as_viewer.post("/projects/%s/lines" % project, {}).status_code == 403
    as_deployer.post("/projects/%s/lines" % project, {"name": "v2"})
    page = page_of(as_deployer, "/projects/" + project)
    assert '<strong id="current-line">2</strong>' in page and "earlier lines: 1" in page
    as_deployer.post("/projects/%s/lines" % project, {"number": "2"})
    assert "number: a new release line must be above the current line 2" \
        in page_of(as_deployer, "/")


def test_notification_channels_on_the_project_page(as_deployer, as_viewer, make_project,
                                                   session_factory):
    from rds_control import channels
    from rds_control.projects import get_project
    from rds_db.models import NotificationChannel
    from rds_db.models.base import utcnow

    project = make_project()
    page = page_of(as_viewer, "/projects/" + project)
    assert 'id="no-channels"' in page and 'id="channel-form"' not in page
    as_deployer.post("/projects/%s/notifications" % project, {
        "kind": "webhook", "target": "gopher://example.com/x", "secret": "x" * 20,
        "events": ["installed"]})
    assert "target: &#39;gopher://example.com/x&#39; is not an http(s) URL" \
        in page_of(as_deployer, "/projects/" + project)
    as_deployer.post("/projects/%s/notifications" % project, {
        "kind": "email", "target": "team@example.com", "events": ["installed", "rolled_back"]})
    [channel_id] = in_tx(session_factory, lambda s: [
        c.id for c in channels.list_channels(s, get_project(s, project).id)])

    def broken(session):
        row = session.get(NotificationChannel, channel_id)
        row.last_error, row.last_error_at = "SMTP 127.0.0.1:25: connection refused", utcnow()
    in_tx(session_factory, broken)
    page = page_of(as_viewer, "/projects/" + project)
    row = re.search(r'<tr class="channel failing" data-channel-id="%d".*?</tr>' % channel_id,
                    page, re.S).group(0)
    assert "team@example.com" in row and "installed, rolled_back" in row
    assert "SMTP 127.0.0.1:25: connection refused" in row
    assert as_viewer.post("/notifications/%d/delete" % channel_id).status_code == 403
    assert as_deployer.post("/notifications/%d/delete" % channel_id).status_code == 302
    assert 'id="no-channels"' in page_of(as_viewer, "/projects/" + project)


def test_children_on_the_project_page_and_grouped_on_the_board(as_deployer, as_viewer,
                                                               make_project, session_factory):
    parent, child = make_project(), make_project()
    assert 'id="child-form"' not in page_of(as_viewer, "/projects/" + parent)
    as_deployer.post("/projects/%s/children" % parent, {"child": parent})
    assert "child: a project cannot be its own child" in page_of(as_deployer, "/")
    as_deployer.post("/projects/%s/children" % parent, {"child": child})
    page = page_of(as_viewer, "/projects/" + parent)
    assert re.search(r'<ul class="children" id="children">\s*<li><a href="/projects/%s">'
                     % child, page)
    assert 'id="family-parent">%s</a>' % parent in page_of(as_viewer, "/projects/" + child)

    assert as_deployer.post("/releases", {"project": parent, "comment": "both"}).status_code \
        == 302
    board = page_of(as_viewer, "/")
    rows = re.findall(r'<tr id="release-(\d+)"[^>]*class="release-row[^"]*"', board)
    child_row = re.search(r'<tr id="release-(\d+)"[^>]*family-child"[^>]*'
                          r'data-parent-id="(\d+)"', board)
    assert child_row, "the child's release is not marked on the board"
    child_id, parent_id = child_row.groups()
    assert abs(rows.index(child_id) - rows.index(parent_id)) == 1  # side by side
    assert "part of" in board and "%s 1.00.001.1" % parent in board

    as_deployer.post("/projects/%s/children/%s/unlink" % (parent, child))
    assert 'id="children"' not in page_of(as_viewer, "/projects/" + parent)
