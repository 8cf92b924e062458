"""The admin page: users, roles, disabling, passwords and API tokens."""
import re

from rds_control import users
from tests.web.web_support import UiClient, in_tx, make_user, unique


def user_row(page, username):
    match = re.search(r'<tr id="user-%s">.*?</tr>' % re.escape(username), page, re.S)
    assert match, username
    return match.group(0)


def user_id(session_factory, username):
    return in_tx(session_factory, lambda s: users.get_user(s, username).id)


def test_create_a_user_who_can_then_log_in(app, as_admin):
    name = unique("new")
    response = as_admin.post("/admin/users", {"username": name, "email": "n@example.com",
                                              "role": "deployer",
                                              "password": "a good long password"})
    assert response.status_code == 302
    page = as_admin.get("/admin/users").get_data(as_text=True)
    assert "Created user %s (deployer)." % name in page
    assert 'value="deployer" selected' in user_row(page, name)
    assert UiClient(app).login(name, "a good long password").status_code == 302


def test_user_form_errors_next_to_the_field(as_admin):
    response = as_admin.post("/admin/users", {"username": "bad name!", "role": "viewer",
                                              "password": "a good long password"})
    assert response.status_code == 400
    assert re.search(r'id="username-error">user name must be', response.get_data(as_text=True))
    response = as_admin.post("/admin/users", {"username": unique("x"), "role": "viewer",
                                              "password": "short"})
    assert re.search(r'id="password-error">password must be at least 8',
                     response.get_data(as_text=True))


def test_set_a_role(as_admin, session_factory):
    name = make_user(session_factory, "viewer")
    as_admin.post("/admin/users/%d/role" % user_id(session_factory, name), {"role": "deployer"})
    assert in_tx(session_factory, lambda s: users.get_user(s, name).role) == "deployer"
    page = as_admin.get("/audit?action=user.role").get_data(as_text=True)
    assert "Changed the role of %s from viewer to deployer" % name in page


def test_the_last_admin_cannot_be_demoted(app, session_factory, as_admin, admin):
    # every other enabled admin is disabled for a moment
    def others(session):
        from sqlalchemy import select

        from rds_db.models import User
        return [u.id for u in session.scalars(select(User).where(
            User.role == "admin", User.disabled_at.is_(None), User.username != admin))]
    ids = in_tx(session_factory, others)
    for other in ids:
        as_admin.post("/admin/users/%d/disable" % other)
    try:
        me = user_id(session_factory, admin)
        as_admin.post("/admin/users/%d/role" % me, {"role": "viewer"})
        page = as_admin.get("/admin/users").get_data(as_text=True)
        assert "is the last admin" in page
        assert in_tx(session_factory, lambda s: users.get_user(s, admin).role) == "admin"
    finally:
        for other in ids:
            as_admin.post("/admin/users/%d/enable" % other)


def test_issue_a_token_shown_once_that_works_on_the_api(app, as_admin, session_factory):
    name = make_user(session_factory, "viewer")
    response = as_admin.post("/admin/users/%d/tokens" % user_id(session_factory, name),
                             {"name": "ci"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = re.search(r'<pre id="new-token">(rds_[^<]+)</pre>', response.get_data(as_text=True))
    api = app.test_client()
    headers = {"Authorization": "Bearer " + token.group(1)}
    assert api.get("/api/v1/projects", headers=headers).status_code == 200
    page = as_admin.get("/admin/users").get_data(as_text=True)
    assert token.group(1) not in page and token.group(1)[:12] in user_row(page, name)
    token_id = re.search(r'/admin/tokens/(\d+)/revoke', user_row(page, name)).group(1)
    as_admin.post("/admin/tokens/%s/revoke" % token_id)
    assert api.get("/api/v1/projects", headers=headers).status_code == 401


def test_disable_and_enable(app, as_admin, session_factory):
    name = make_user(session_factory, "deployer")
    uid = user_id(session_factory, name)
    as_admin.post("/admin/users/%d/disable" % uid)
    assert "disabled" in user_row(as_admin.get("/admin/users").get_data(as_text=True), name)
    assert UiClient(app).login(name).status_code == 401
    as_admin.post("/admin/users/%d/enable" % uid)
    assert UiClient(app).login(name).status_code == 302


def test_set_a_password(app, as_admin, session_factory):
    name = make_user(session_factory, "viewer")
    as_admin.post("/admin/users/%d/password" % user_id(session_factory, name),
                  {"password": "brand new password"})
    assert UiClient(app).login(name, "brand new password").status_code == 302
    as_admin.post("/admin/users/%d/password" % user_id(session_factory, name), {"password": "x"})
    assert "at least 8" in as_admin.get("/admin/users").get_data(as_text=True)
