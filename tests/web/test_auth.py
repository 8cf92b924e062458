"""Logging in and out, and what ends a session."""
from datetime import UTC, datetime, timedelta

import pytest

from rds_control import logins, user_admin, users
from tests.web.web_support import PASSWORD, UiClient, in_tx, logged_in, make_user, unique


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
        return user_admin.set_disabled(session, users.get_user(session, someone).id, True, actor)
    in_tx(session_factory, lambda s: disable(s).id)
    assert client.get("/").status_code == 302
    assert client.login(someone).status_code == 401


def test_a_new_password_ends_other_sessions(app, session_factory, admin, someone):
    client = logged_in(app, someone)

    def reset(session):
        actor = users.get_user(session, admin)
        user = users.get_user(session, someone)
        return user_admin.reset_password(session, user.id, "another long password", actor).id
    in_tx(session_factory, reset)
    assert client.get("/").status_code == 302
    assert client.login(someone, "another long password").status_code == 302


def test_logins_and_failures_are_audited(app, as_admin, someone):
    client = UiClient(app, address="192.0.2.77")
    client.login(someone, "not the password")
    client.login(someone)
    client.post("/logout")
    page = as_admin.get("/audit?action=user&q=%s" % someone).get_data(as_text=True)
    assert "Failed login as &#39;%s&#39; from 192.0.2.77" % someone in page
    assert "%s logged in from 192.0.2.77" % someone in page
    assert "%s logged out" % someone in page


# -- sessions end on the server side ----------------------------------------

def test_a_cookie_replayed_after_logout_is_refused(app, someone):
    client = logged_in(app, someone)
    cookie = client.client.get_cookie("session").value
    client.post("/logout")
    replay = UiClient(app)
    replay.client.set_cookie("session", cookie)
    assert replay.get("/").status_code == 302
    assert replay.get("/projects").headers["Location"].startswith("/login")


def test_logout_ends_the_sessions_in_other_browsers_too(app, someone):
    laptop, phone = logged_in(app, someone), logged_in(app, someone)
    laptop.post("/logout")
    assert phone.get("/").status_code == 302


def test_a_new_password_ends_a_replayed_cookie(app, session_factory, admin, someone):
    client = logged_in(app, someone)
    cookie = client.client.get_cookie("session").value

    def reset(session):
        actor = users.get_user(session, admin)
        user = users.get_user(session, someone)
        return user_admin.reset_password(session, user.id, "yet another password", actor).id
    in_tx(session_factory, reset)
    replay = UiClient(app)
    replay.client.set_cookie("session", cookie)
    assert replay.get("/").status_code == 302


# -- where login sends you back to -------------------------------------------

@pytest.mark.parametrize("target", [
    "/\t/evil.example/phish", "/\n/evil.example", "/%09/evil.example/phish",
    "/\r\n/", "/ /evil.example", "/\x7f/evil", "https:/evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site_whatever_the_encoding(app, someone, target):
    client = UiClient(app)
    response = client.client.post("/login", data={
        "username": someone, "password": PASSWORD, "next": target.replace("%09", "\t"),
        "csrf_token": client.csrf_token()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("query", ["/%09/evil.example/phish", "/%0A/", "//evil.example"])
def test_next_in_the_query_string_never_leaves_the_site(app, someone, query):
    client = logged_in(app, someone)
    response = client.client.get("/login?next=" + query)
    assert response.status_code in (302, 400)
    assert response.headers.get("Location", "/") == "/"


def test_a_local_next_still_works(app, someone):
    client = UiClient(app)
    response = client.client.post("/login", data={
        "username": someone, "password": PASSWORD, "next": "/audit?q=x&page=2",
        "csrf_token": client.csrf_token()})
    assert response.headers["Location"] == "/audit?q=x&page=2"


# -- throttling ---------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app, monkeypatch):
    fake = FakeClock()
    monkeypatch.setitem(app.config, "CLOCK", fake)
    return fake


def test_repeated_failures_block_the_user_for_a_growing_delay(app, someone, clock):
    for attempt in range(logins.FREE_FAILURES):
        assert UiClient(app).login(someone, "wrong %d" % attempt).status_code == 401
    # the right password from a fresh address: the user name itself is blocked
    response = UiClient(app).login(someone)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "Too many failed logins" in response.get_data(as_text=True)
    clock.advance(2)
    assert UiClient(app).login(someone, "wrong again").status_code == 401
    assert UiClient(app).login(someone).headers["Retry-After"] == "4"  # doubled
    clock.advance(4)
    assert UiClient(app).login(someone).status_code == 302  # and a success clears it
    assert UiClient(app).login(someone).status_code == 302


def test_repeated_failures_block_the_address_for_every_user(app, someone, clock):
    for attempt in range(logins.FREE_FAILURES):
        UiClient(app, address="198.51.100.9").login(unique("guess"), "x")
    assert UiClient(app, address="198.51.100.9").login(someone).status_code == 429
    assert UiClient(app, address="198.51.100.10").login(someone).status_code == 302
    clock.advance(2)
    assert UiClient(app, address="198.51.100.9").login(someone).status_code == 302


def test_failures_long_ago_are_forgotten(app, someone, clock):
    for _ in range(logins.FREE_FAILURES - 1):
        UiClient(app).login(someone, "wrong")
    clock.advance(logins.WINDOW.total_seconds() + 1)
    UiClient(app).login(someone, "wrong")
    assert UiClient(app).login(someone).status_code == 302


def test_throttled_logins_are_audited(app, as_admin, someone, clock):
    for _ in range(logins.FREE_FAILURES + 1):
        UiClient(app, address="203.0.113.5").login(someone, "wrong")
    page = as_admin.get("/audit?q=%s" % someone).get_data(as_text=True)
    assert "Refused a login as &#39;%s&#39; from 203.0.113.5: too many failures" % someone in page


@pytest.mark.parametrize("username", [unique("nobody"), "bad name\x01", "x" * 500])
def test_every_login_costs_exactly_one_password_check(app, someone, monkeypatch, username):
    """Unknown and known users take the same work, so timing tells nothing."""
    calls = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash",
                        lambda *args: calls.append(args) or real(*args))
    UiClient(app).login(username, "some password")
    UiClient(app).login(someone, "some password")
    assert len(calls) == 2
