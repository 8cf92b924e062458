"""The release board: rows, filters, pages, the live marker and the buttons each state allows."""
import re

import pytest
from sqlalchemy import select

from rds_db.models import Project, ReleaseBan, ReleaseRequest
from tests.web.web_support import (
    in_tx,
    logged_in,
    make_user,
    seed_releases,
    statements_run,
)


def row_html(page, release_id):
    match = re.search(r'<tr id="release-%d".*?</tr>' % release_id, page, re.S)
    assert match, "row %d not on the page" % release_id
    return match.group(0)


def actions(page, release_id):
    """The actions a row offers as enabled buttons."""
    return set(re.findall(r'type="submit"[^>]*data-action="(\w+)"', row_html(page, release_id)))


def blocked(page, release_id):
    """The actions a row shows disabled, with the reason (the tooltip) of each."""
    return {action: reason for reason, action in re.findall(
        r'class="inline action blocked" title="([^"]*)".*?data-action="(\w+)"',
        row_html(page, release_id), re.S)}


def board(client, project, **args):
    query = "&".join("%s=%s" % item for item in args.items())
    response = client.get("/?project=%s&%s" % (project, query))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_rows_are_newest_first_with_author_comment_and_version(as_viewer, make_project,
                                                               make_release, deployer):
    project = make_project()
    first = make_release.installed(project, comment="first change")
    second = make_release.installed(project, comment="second change")
    page = board(as_viewer, project)
    assert page.index("release-%d" % second) < page.index("release-%d" % first)
    row = row_html(page, second)
    assert "second change" in row and deployer in row and "1.00.002" in row
    assert 'data-status="installed"' in row and "st-ready" in row
    assert "host1/builder/1" in row  # the per-build line names the agent


def test_filter_by_project_and_status(as_viewer, make_project, make_release):
    project, other = make_project(), make_project()
    installed = make_release.installed(project)
    building, _, _ = make_release.create(project)
    elsewhere = make_release.installed(other)
    page = board(as_viewer, project)
    assert "release-%d" % installed in page and "release-%d" % building in page
    assert "release-%d" % elsewhere not in page
    page = board(as_viewer, project, status="new")
    assert "release-%d" % building in page and "release-%d" % installed not in page
    assert as_viewer.get("/?status=bogus").status_code == 200  # ignored, not an error


def _links(page):
    return {rel: href.replace("&amp;", "&") for href, rel in re.findall(
        r'<a href="([^"]+)" rel="(prev|next)">', page)}


def test_pages_of_25_newest_first_by_keyset(as_viewer, make_project, session_factory):
    project = make_project()
    ids = seed_releases(session_factory, project, 60)
    first = board(as_viewer, project)
    assert "60 releases" in first and "prev" not in _links(first)
    assert re.findall(r'<tr id="release-(\d+)"', first) == [str(i) for i in ids[::-1][:25]]
    second = as_viewer.get(_links(first)["next"]).get_data(as_text=True)  # ?before=<id>
    assert "before=%d" % ids[-25] in _links(first)["next"]
    assert re.findall(r'<tr id="release-(\d+)"', second) == [str(i) for i in ids[::-1][25:50]]
    assert 'data-first-page="false"' in second
    third = as_viewer.get(_links(second)["next"]).get_data(as_text=True)
    assert len(re.findall(r'<tr id="release-', third)) == 10 and "next" not in _links(third)
    back = as_viewer.get(_links(third)["prev"]).get_data(as_text=True)  # ?after=<id>
    assert re.findall(r'<tr id="release-(\d+)"', back) == [str(i) for i in ids[::-1][25:50]]
    newest = as_viewer.get(_links(back)["prev"]).get_data(as_text=True)
    assert 'data-first-page="true"' in newest and "prev" not in _links(newest)
    assert board(as_viewer, project, before="nonsense").count('<tr id="release-') == 25


def test_counts_stop_at_the_cap(as_viewer, make_project, session_factory, monkeypatch):
    from rds_control import board as board_module

    monkeypatch.setattr(board_module, "COUNT_CAP", 10)
    project = make_project()
    seed_releases(session_factory, project, 12)
    assert "10+ releases" in board(as_viewer, project)


def test_buttons_follow_the_state(as_deployer, make_project, make_release):
    project = make_project()
    building, _, _ = make_release.create(project)
    page = board(as_deployer, project)
    assert actions(page, building) == {"cancel"}
    assert "progress" in row_html(page, building)


def test_installed_latest_can_be_activated_rebuilt_and_deleted(as_deployer, make_project,
                                                               make_release):
    project = make_project()
    older = make_release.installed(project)
    latest = make_release.installed(project)
    page = board(as_deployer, project)
    assert actions(page, latest) == {"activate", "rebuild", "pin", "delete"}
    assert actions(page, older) == {"activate", "pin", "delete"}  # only the latest is rebuilt


def test_the_live_row_is_marked_and_offers_revert(as_deployer, make_project, make_release):
    project = make_project()
    first = make_release.live(project)
    second = make_release.live(project)
    page = board(as_deployer, project)
    live = row_html(page, second)
    assert "LIVE" in live and "release-row status-used live" in live
    assert "Revert to 1.00.001.1" in live
    assert actions(page, second) == {"revert", "pin"}  # the live one is never deleted
    old = row_html(page, first)
    assert "LIVE" not in old and 'data-status="old"' in old
    assert actions(page, first) == {"activate", "pin", "delete"}


def test_failed_release_shows_its_error_and_rebuild(as_deployer, make_project, make_release):
    project = make_project()
    release, agent, _ = make_release.building(project)
    agent.fail(reason="make: *** [all] Error 2")
    page = board(as_deployer, project)
    row = row_html(page, release)
    assert "st-failed" in row and "make: *** [all] Error 2" in row
    assert actions(page, release) == {"rebuild", "delete"}


def test_a_release_not_on_every_server_cannot_be_activated(as_deployer, make_project,
                                                           make_release, session_factory):
    project = make_project()
    release = make_release.installed(project)

    def add_server(session):
        from rds_control import projects
        p = projects.get_project(session, project, lock=True)
        projects.update_project(session, p, {"servers": [
            {"host": "10.0.0.1", "user": "deploy"}, {"host": "10.0.0.2", "user": "deploy"},
            {"host": "10.0.0.3", "user": "deploy"}]}, None)
        return None
    in_tx(session_factory, add_server)
    page = board(as_deployer, project)
    assert "activate" not in actions(page, release)
    assert "not ready on deploy@10.0.0.3:22" in blocked(page, release)["activate"]
    assert "not ready on deploy@10.0.0.3:22" in row_html(page, release)


def test_progress_while_building_uses_the_previous_build(as_viewer, make_project, make_release):
    project = make_project()
    done, agent, servers = make_release.building(project)
    agent.step("build", "started")
    agent.step("build", "finished")
    agent.install(servers)
    building, agent, _ = make_release.building(project)
    agent.step("build", "started")
    row = row_html(board(as_viewer, project), building)
    assert re.search(r'<progress max="100" value="[\d.]+" data-base', row)
    assert "left" in row  # an estimate of the time remaining
    assert re.search(r'class="step running">build', row)


def test_favourite_projects_are_offered(app, session_factory, make_project):
    client = logged_in(app, make_user(session_factory, "deployer"))
    often, once = make_project(), make_project()
    for name in (often, once, often):
        client.post("/releases", {"project": name, "comment": "x"})
        release = in_tx(session_factory, lambda s: s.scalars(select(ReleaseRequest.id).join(
            ReleaseRequest.project).where(Project.name == name).order_by(
            ReleaseRequest.id.desc())).first())
        client.post("/releases/%d/cancel" % release)
    page = client.get("/").get_data(as_text=True)
    favourites = re.findall(r'class="fav" data-project="([^"]+)"', page)
    assert favourites == [often, once]
    page = client.get("/?new=%s" % once).get_data(as_text=True)
    project = once
    assert '<option value="%s" selected>' % project in page
    assert '<details id="new-release" class="new-release" open>' in page


def test_create_a_release_from_the_form(as_deployer, make_project, session_factory, bus):
    project = make_project()
    sent = len(bus.sent)
    response = as_deployer.post("/releases", {"project": project, "comment": "from the form",
                                              "ref": "release/1.2"})
    assert response.status_code == 302
    release = in_tx(session_factory, lambda s: s.scalars(select(ReleaseRequest).join(
        ReleaseRequest.project).where(ReleaseRequest.comment == "from the form")).one().ref)
    assert release == "release/1.2"
    assert len(bus.sent) == sent + 1 and bus.sent[-1][1].project == project
    page = as_deployer.get("/").get_data(as_text=True)
    assert "Started %s 1.00.001.1." % project in page


@pytest.mark.parametrize("form,field,message", [
    ({"comment": "x"}, "project", "choose a project"),
    ({"project": "no-such-project", "comment": "x"}, "project", "no project named"),
    ({"project": "{project}", "ref": "bad..ref"}, "ref", "ref"),
    ({"project": "{project}", "comment": "x" * 2001}, "comment", "2000"),
])
def test_release_form_errors_are_shown_next_to_the_field(as_deployer, make_project, form,
                                                         field, message, bus):
    project = make_project()
    form = {k: v.format(project=project) for k, v in form.items()}
    sent = len(bus.sent)
    response = as_deployer.post("/releases", form)
    page = response.get_data(as_text=True)
    assert response.status_code in (400, 404)
    error = re.search(r'<small class="field-error" id="%s-error">([^<]*)</small>' % field, page)
    assert error and message in error.group(1)
    assert 'aria-invalid="true" aria-describedby="%s-error"' % field in page
    assert len(bus.sent) == sent
    for key, value in form.items():
        if key == "project" and value != project:
            continue
        assert value[:50] in page  # what was typed is kept


def test_a_ban_is_shown_and_nothing_is_created(as_deployer, make_project, session_factory):
    project = make_project()

    def ban(session):
        from rds_control.projects import get_project
        session.add(ReleaseBan(project_id=get_project(session, project).id, release_line=1,
                               comment="code freeze"))
    in_tx(session_factory, ban)
    response = as_deployer.post("/releases", {"project": project, "comment": "x"})
    assert response.status_code == 403
    assert "code freeze" in response.get_data(as_text=True)
    assert "0 releases" in board(as_deployer, project)


def test_with_deployment_off_only_the_rollback_is_offered(as_deployer, make_project,
                                                          make_release, deployment_switch):
    project = make_project()
    first = make_release.live(project)
    second = make_release.live(project)
    spare = make_release.installed(project)
    deployment_switch(False, "incident 42")
    page = board(as_deployer, project)
    assert "Deployment is switched off" in page and "incident 42" in page
    assert 'id="new-release"' not in page
    assert actions(page, second) == {"revert", "pin"}
    assert actions(page, first) == {"activate", "pin", "delete"}  # the previous version
    assert actions(page, spare) == {"pin", "delete"}
    assert "incident 42" in blocked(page, spare)["activate"]  # shown, disabled, explained
    response = as_deployer.post("/releases/%d/activate" % spare)
    assert response.status_code == 302
    assert make_release.status(spare) == "installed"
    assert "switched off" in as_deployer.get("/").get_data(as_text=True)


def test_actions_from_the_board(as_deployer, make_project, make_release, bus):
    project = make_project()
    release = make_release.installed(project)
    response = as_deployer.post("/releases/%d/activate" % release,
                                {"next": "/?project=" + project})
    assert response.status_code == 302 and response.headers["Location"] == "/?project=" + project
    assert make_release.status(release) == "using"
    assert bus.sent[-1][1].version == "1.00.001.1"
    page = board(as_deployer, project)
    assert "Activating %s 1.00.001.1." % project in page
    assert actions(page, release) == {"pin"}  # switching: nothing to do but wait


def test_cancel_and_delete_from_the_board(as_deployer, make_project, make_release):
    project = make_project()
    release, _, _ = make_release.create(project)
    assert as_deployer.post("/releases/%d/cancel" % release).status_code == 302
    assert make_release.status(release) == "cancelled"
    assert as_deployer.post("/releases/%d/delete" % release).status_code == 302
    page = board(as_deployer, project)
    assert "tag-deleted" in row_html(page, release)
    assert actions(page, release) == set()


def test_a_refused_action_is_explained(as_deployer, make_project, make_release):
    project = make_project()
    release = make_release.live(project)
    response = as_deployer.post("/releases/%d/delete" % release)
    assert response.status_code == 302
    page = as_deployer.get("/").get_data(as_text=True)
    assert "is used; cancel it or activate another version first" in page
    assert "flash-error" in page


def test_revert_from_the_board(as_deployer, make_project, make_release):
    project = make_project()
    first = make_release.live(project)
    make_release.live(project)
    response = as_deployer.post("/projects/%s/revert" % project)
    assert response.status_code == 302
    assert make_release.status(first) == "using"
    assert "Reverting %s to 1.00.001.1." % project in as_deployer.get("/").get_data(as_text=True)


def test_release_page(as_viewer, make_project, make_release):
    project = make_project()
    release = make_release.live(project)
    page = as_viewer.get("/releases/%d" % release).get_data(as_text=True)
    assert "deploy@10.0.0.1:22" in page and "ready" in page
    assert "is live on 2 server(s)" in page  # history from the audit log
    assert 'data-stream="/events?view=board' in page and "release=%d" % release in page
    assert as_viewer.get("/releases/999999999").status_code == 404


def test_the_board_is_read_in_a_fixed_number_of_queries(app, as_viewer, make_project,
                                                        session_factory, make_release):
    def statements_for(project):
        with statements_run(app) as statements:
            board(as_viewer, project)
        return statements

    small, full = make_project(), make_project()
    seed_releases(session_factory, small, 2)
    make_release.installed(small)
    seed_releases(session_factory, full, 25)
    make_release.installed(full)
    few, many = statements_for(small), statements_for(full)
    # the same statements for 3 rows and for a full page of 25: nothing is read per row
    assert len(many) == len(few), "\n".join(many)
    assert len(many) <= 30, "\n".join(many)
