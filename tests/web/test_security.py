"""The UI's edge: hostile input gets a 4xx page (never a 500), every page carries
the security headers, and no template needs inline script."""
import os
import re
import stat

import pytest

import rds_web
from tests.web.web_support import PASSWORD, UiClient

TEMPLATES = os.path.join(os.path.dirname(rds_web.__file__), "templates")


@pytest.mark.parametrize("path", ["/audit?q=%00", "/?project=%00", "/?status=%00",
                                  "/projects/a%00b", "/projects/a%01b/edit", "/audit?q=%1b[31m",
                                  "/builds/%00", "/releases/99999999999"])
def test_hostile_paths_and_queries_get_a_4xx_page(as_viewer, path):
    response = as_viewer.get(path)
    assert 400 <= response.status_code < 500, response.status_code
    assert "text/html" in response.content_type


@pytest.mark.parametrize("path", ["/audit?page=99999999999999999999", "/?page=1e99",
                                  "/?page=-5", "/audit?page=" + "9" * 5000])
def test_absurd_page_numbers_are_just_empty_pages(as_viewer, path):
    assert as_viewer.get(path).status_code == 200


def test_a_nul_in_the_login_name_is_a_400(app):
    client = UiClient(app)
    response = client.client.post("/login", data={
        "username": "admin\x00", "password": PASSWORD, "csrf_token": client.csrf_token()})
    assert response.status_code == 400


def test_a_nul_in_a_form_changes_nothing(as_deployer, make_project):
    name = make_project()
    response = as_deployer.post("/projects/%s/scripts/build" % name, data={"body": "make\x00"})
    assert response.status_code == 400
    page = as_deployer.get("/projects/%s/scripts/build" % name).get_data(as_text=True)
    assert "make\x00" not in page


@pytest.mark.parametrize("path", ["/", "/login", "/projects", "/audit"])
def test_every_page_carries_the_security_headers(as_viewer, path):
    response = as_viewer.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split(
        "style-src-attr")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_error_pages_carry_them_too(as_viewer):
    response = as_viewer.get("/no/such/page")
    assert response.status_code == 404 and "Content-Security-Policy" in response.headers


def test_no_template_has_inline_script_or_handlers():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=", re.I)
    offenders = []
    for name in sorted(os.listdir(TEMPLATES)):
        text = open(os.path.join(TEMPLATES, name)).read()
        if inline_script.search(text) or handler.search(text) or "javascript:" in text:
            offenders.append(name)
    assert offenders == []


def test_the_board_filters_still_work_without_inline_handlers(as_viewer):
    page = as_viewer.get("/").get_data(as_text=True)
    assert 'class="filters"' in page and "onchange" not in page
    js = as_viewer.get("/static/rds.js").get_data(as_text=True)
    assert "form.filters select" in js


def test_cookies_are_secure_behind_https(database_url):
    app = rds_web.create_app({"TESTING": True, "SECRET_KEY": "s", "DATABASE_URL": database_url,
                              "BUS_PUBLISHER": object(), "PUBLIC_URL": "https://rds.example"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(database_url):
    from flask import request

    app = rds_web.create_app({"TESTING": True, "SECRET_KEY": "s", "DATABASE_URL": database_url,
                              "BUS_PUBLISHER": object(), "TRUSTED_PROXIES": 1})
    with app.test_request_context():
        pass
    seen = []
    app.before_request(lambda: seen.append((request.remote_addr, request.scheme)) and None)
    app.test_client().get("/login", headers={"X-Forwarded-For": "203.0.113.9",
                                             "X-Forwarded-Proto": "https"})
    assert seen == [("203.0.113.9", "https")]


def test_local_secret_files_are_private(tmp_path):
    from rds_testing import localrun

    localrun.service_env(str(tmp_path), "postgresql://x/y", "amqp://x")
    for name in os.listdir(tmp_path):
        path = tmp_path / name
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_a_long_log_shows_its_tail_and_downloads_whole(as_viewer, make_project, make_release,
                                                       monkeypatch):
    from rds_control import logs

    monkeypatch.setattr(logs, "PAGE_BYTES", 1000)
    project = make_project()
    release, agent, _ = make_release.building(project)
    lines = ["line %04d %s\n" % (n, "x" * 80) for n in range(40)]
    for n in range(0, 40, 4):
        agent.log("".join(lines[n:n + 4]))
    page = as_viewer.get("/builds/%s" % agent.task_id).get_data(as_text=True)
    assert "line 0039" in page and "line 0000" not in page
    assert "earlier bytes of this log are not shown" in page
    assert "/builds/%s/log.txt" % agent.task_id in page
    raw = as_viewer.get("/builds/%s/log.txt" % agent.task_id)
    assert raw.is_streamed and raw.get_data(as_text=True) == "".join(lines)


@pytest.mark.parametrize("email", ["x" * 250 + "@example.com", "no-at-sign", "a@b\x01c"])
def test_a_bad_email_is_named_on_the_user_form(as_admin, email):
    response = as_admin.post("/admin/users", data={
        "username": "u" + os.urandom(4).hex(), "email": email, "role": "viewer",
        "password": "long enough password"})
    assert response.status_code == 400
    assert "e-mail must be an address" in response.get_data(as_text=True)


def test_a_token_name_keeps_only_printable_characters(as_admin, session_factory, viewer):
    from rds_control import users
    from tests.web.web_support import in_tx

    user_id = in_tx(session_factory, lambda s: users.get_user(s, viewer).id)
    as_admin.post("/admin/users/%d/tokens" % user_id, data={"name": "ci\x1b[31m" + "x" * 300})

    def names(session):
        return [t.name for t in users.get_user(session, viewer).tokens]
    assert all(name.isprintable() and len(name) <= 100 for name in in_tx(session_factory,
                                                                          names))
