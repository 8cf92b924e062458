"""Config file pages: create, edit with a comment, history, diff, secrets hidden."""
import re

from rds_control import configs, projects
from tests.web.web_support import in_tx

SECRET = "STRIPE_KEY=sk_live_42\n"


def saved_revision(session_factory, name):
    return in_tx(session_factory, lambda s: projects.get_project(s, name).config_revision)


def test_create_edit_history_and_diff(as_deployer, make_project, session_factory):
    name = make_project()
    response = as_deployer.post("/projects/%s/configs" % name, {
        "filename": "config/local.yml", "content": "a: 1\nb: 2\n", "comment": "first"})
    assert response.status_code == 302, response.get_data(as_text=True)
    url = "/projects/%s/configs/config/local.yml" % name
    assert response.headers["Location"] == url
    assert as_deployer.post(url, {"content": "a: 1\nb: 3\nc: 4\n",
                                  "comment": "bump b"}).status_code == 302
    page = as_deployer.get(url).get_data(as_text=True)
    assert "bump b" in page and "first" in page and "b: 3" in page
    assert saved_revision(session_factory, name) == 2
    diff = as_deployer.get(url + "/diff?a=1&b=2").get_data(as_text=True)
    assert re.search(r'class="chg".*b: 2.*b: 3', diff, re.S)
    assert re.search(r'class="add".*c: 4', diff, re.S)
    assert "−1 +2 lines" in diff
    version = as_deployer.get(url + "/versions/2").get_data(as_text=True)
    assert "pushing" in version and "bump b" in version


def test_a_viewer_sees_the_history_but_never_the_contents(as_deployer, as_viewer,
                                                          make_project):
    name = make_project()
    as_deployer.post("/projects/%s/configs" % name, {"filename": ".env", "content": SECRET})
    as_deployer.post("/projects/%s/configs/.env" % name, {"content": SECRET + "X=1\n"})
    for url in ("/projects/%s/configs/.env" % name,
                "/projects/%s/configs/.env/versions/1" % name,
                "/projects/%s/configs" % name):
        response = as_viewer.get(url)
        assert response.status_code == 200
        assert "sk_live_42" not in response.get_data(as_text=True)
    assert 'id="content-hidden"' in as_viewer.get(
        "/projects/%s/configs/.env" % name).get_data(as_text=True)
    assert as_viewer.get("/projects/%s/configs/.env/diff?a=1&b=2" % name).status_code == 403
    assert as_viewer.post("/projects/%s/configs/.env" % name,
                          {"content": "hacked"}).status_code == 403


def test_a_bad_name_is_shown_next_to_the_field_and_nothing_is_saved(
        as_deployer, make_project, session_factory):
    name = make_project()
    response = as_deployer.post("/projects/%s/configs" % name,
                                {"filename": "../../.ssh/authorized_keys", "content": "x"})
    assert response.status_code == 400
    assert 'id="filename-error"' in response.get_data(as_text=True)
    assert "escape" in response.get_data(as_text=True)
    assert saved_revision(session_factory, name) == 0
    too_big = as_deployer.post("/projects/%s/configs" % name,
                               {"filename": ".env", "content": "x" * (1024 * 1024 + 1)})
    assert too_big.status_code == 400 and 'id="content-error"' in too_big.get_data(
        as_text=True)
    assert in_tx(session_factory, lambda s: configs.list_files(
        s, projects.get_project(s, name))) == []


def test_delete_keeps_the_history(as_deployer, make_project, session_factory):
    name = make_project()
    as_deployer.post("/projects/%s/configs" % name, {"filename": ".env", "content": SECRET})
    response = as_deployer.post("/projects/%s/configs/.env/delete" % name,
                                {"comment": "moved to vault"})
    assert response.status_code == 302
    assert as_deployer.get("/projects/%s/configs/.env" % name).status_code == 404
    page = as_deployer.get("/projects/%s/configs/.env/versions/2" % name).get_data(
        as_text=True)
    assert "moved to vault" in page and "deleted" in page


def test_the_release_page_shows_its_config_revision_and_cron_against_the_live_one(
        as_viewer, make_project, make_release, session_factory):
    from rds_control import releases

    name = make_project()
    live = make_release.live(name, "live one")
    candidate = make_release.installed(name, "candidate")

    def set_cron(session):
        releases.get_release(session, live).cron_config = "0 * * * * old-job\n"
        release = releases.get_release(session, candidate)
        release.cron_config = "0 * * * * new-job\n*/5 * * * * extra\n"
        release.config_revision = 7
    in_tx(session_factory, set_cron)
    page = as_viewer.get("/releases/%d" % candidate).get_data(as_text=True)
    assert re.search(r'id="release-config-revision">.*7', page)
    assert "−1 +2 lines against the live release" in page
    assert re.search(r'class="chg".*old-job.*new-job', page, re.S)
    assert "same as the live release" in as_viewer.get(
        "/releases/%d" % live).get_data(as_text=True)
