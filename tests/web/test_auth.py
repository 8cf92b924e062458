"""Logging in and out, and what ends a session."""
import pytest

from rds_control import accounts, users
from tests.web.web_support import PASSWORD, UiClient, in_tx, logged_in, make_user


@pytest.fixture
def someone(session_factory):
    return make_user(session_factory, "deployer")


def test_login_page(anonymous):
    page = anonymous.get("/login").get_data(as_text=True)
    assert 'name="username"' in page and 'type="password"' in page
    assert 'name="csrf_token"' in page


def test_anonymous_is_sent_to_login_and_back(app, someone):
    client = UiClient(app)
    response = client.get("/projects?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/projects?x%3D1"
    response = client.client.post("/login", data={
        "username": someone, "password": PASSWORD, "next": "/projects?x=1",
        "csrf_token": client.csrf_token()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects?x=1"
    assert client.get("/projects").status_code == 200


@pytest.mark.parametrize("password", ["wrong password", ""])
def test_a_wrong_password_is_refused(app, someone, password):
    client = UiClient(app)
    response = client.login(someone, password)
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_an_unknown_user_is_refused_the_same_way(anonymous):
    response = anonymous.login("nobody-at-all", PASSWORD)
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_login_never_redirects_to_another_site(app, someone, target):
    client = UiClient(app)
    response = client.client.post("/login", data={
        "username": someone, "password": PASSWORD, "next": target,
        "csrf_token": client.csrf_token()})
    assert response.headers["Location"] == "/"


def test_logout_ends_the_session(app, someone):
    client = logged_in(app, someone)
    assert client.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_logout_needs_a_post(app, someone):
    client = logged_in(app, someone)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_the_session_cookie_is_http_only_and_same_site(app, someone):
    client = UiClient(app)
    response = client.login(someone)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_disabling_a_user_ends_their_session(app, session_factory, admin, someone):
    client = logged_in(app, someone)

    def disable(session):
        actor = users.get_user(session, admin)
        return accounts.set_disabled(session, users.get_user(session, someone).id, True, actor)
    in_tx(session_factory, lambda s: disable(s).id)
    assert client.get("/").status_code == 302
    assert client.login(someone).status_code == 401


def test_a_new_password_ends_other_sessions(app, session_factory, admin, someone):
    client = logged_in(app, someone)

    def reset(session):
        actor = users.get_user(session, admin)
        user = users.get_user(session, someone)
        return accounts.reset_password(session, user.id, "another long password", actor).id
    in_tx(session_factory, reset)
    assert client.get("/").status_code == 302
    assert client.login(someone, "another long password").status_code == 302


def test_logins_and_failures_are_audited(app, as_admin, someone):
    client = UiClient(app)
    client.login(someone, "not the password")
    client.login(someone)
    client.post("/logout")
    page = as_admin.get("/audit?action=user&q=%s" % someone).get_data(as_text=True)
    assert "Failed login as &#39;%s&#39; from 127.0.0.1" % someone in page
    assert "%s logged in from 127.0.0.1" % someone in page
    assert "%s logged out" % someone in page
