"""Cross-cutting rules, checked on every UI route: who may call it, and CSRF.

``ROUTES`` lists every UI route with the permission it needs; a test makes
sure no route is added without being listed here.
"""
import pytest
from sqlalchemy import func, select

from rds_control import projects, users
from rds_db.models import AuditEntry, Migration
from tests.web.web_support import in_tx, unique

#: (method, path, permission). Placeholders are filled from ``targets``.
ROUTES = [
    ("GET", "/", "view"),
    ("GET", "/releases/new", "deploy"),
    ("POST", "/releases", "deploy"),
    ("GET", "/releases/{release}", "view"),
    ("POST", "/releases/{release}/activate", "deploy"),
    ("POST", "/releases/{release}/rebuild", "deploy"),
    ("POST", "/releases/{release}/cancel", "deploy"),
    ("POST", "/releases/{release}/delete", "deploy"),
    ("POST", "/releases/{release}/pin", "deploy"),
    ("POST", "/releases/{release}/unpin", "deploy"),
    ("POST", "/releases/{release}/install-missing", "deploy"),
    ("POST", "/projects/{project}/revert", "deploy"),
    ("POST", "/projects/{project}/check-servers", "deploy"),
    ("GET", "/builds/{task}", "view"),
    ("GET", "/builds/{task}/log.txt", "view"),
    ("GET", "/projects", "view"),
    ("GET", "/projects/{project}", "view"),
    ("GET", "/projects/_new", "manage_projects"),
    ("POST", "/projects/_new", "manage_projects"),
    ("GET", "/projects/{project}/edit", "manage_projects"),
    ("POST", "/projects/{project}/edit", "manage_projects"),
    ("GET", "/projects/{project}/scripts/build", "manage_projects"),
    ("POST", "/projects/{project}/scripts/build", "manage_projects"),
    ("GET", "/agents", "view"),
    ("GET", "/audit", "view"),
    ("GET", "/admin/users", "admin"),
    ("POST", "/admin/users", "admin"),
    ("POST", "/admin/users/{user}/role", "admin"),
    ("POST", "/admin/users/{user}/disable", "admin"),
    ("POST", "/admin/users/{user}/enable", "admin"),
    ("POST", "/admin/users/{user}/password", "admin"),
    ("POST", "/admin/users/{user}/tokens", "admin"),
    ("POST", "/admin/tokens/{token}/revoke", "admin"),
    ("GET", "/migrations", "view"),
    ("POST", "/migrations/{migration}/apply", "deploy"),
    ("POST", "/migrations/{migration}/rollback", "deploy"),
    ("POST", "/migrations/{migration}/cancel", "deploy"),
    ("POST", "/releases/{release}/pre-migrations", "deploy"),
    ("POST", "/releases/{release}/activate-below-floor", "admin"),
]
#: Open to everyone (the login form) or special-cased below.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/events"),
          # the icon, and Prometheus metrics (RDS_METRICS_TOKEN guards them when set)
          ("GET", "/favicon.ico"), ("GET", "/metrics")}
GRANTS = {
    "anonymous": set(),
    "viewer": {"view"},
    "deployer": {"view", "deploy", "manage_projects"},
    "admin": {"view", "deploy", "manage_projects", "admin"},
}
PERSONAS = ["anonymous", "viewer", "deployer", "admin"]


@pytest.fixture
def targets(session_factory, make_project, make_release):
    """Fresh objects for each test, so allowed actions may change them freely."""
    project = make_project()
    release = make_release.installed(project)
    name = unique("target")

    def create(session):
        user = users.create_user(session, name, "viewer")
        _, token = users.issue_token(session, user, "t")
        return user.id, token.id
    user_id, token_id = in_tx(session_factory, create)

    def migration(session):
        row = Migration(project_id=projects.get_project(session, project).id, type="post",
                        name="0001_target", release_id=release, state="pending")
        session.add(row)
        session.flush()
        return row.id
    return {"project": project, "release": release, "migration": in_tx(session_factory,
                                                                       migration),
            "task": make_release.task_of(release, "build"), "user": user_id, "token": token_id}


def audit_count(session_factory):
    return in_tx(session_factory, lambda s: s.scalar(select(func.count(AuditEntry.id))))


def _rule_path(rule):
    return rule.rule.replace("<int:release_id>", "{release}").replace(
        "<name>", "{project}").replace("<task_id>", "{task}").replace(
        "<int:user_id>", "{user}").replace("<int:token_id>", "{token}").replace(
        "<kind>", "build").replace("<int:migration_id>", "{migration}")


def test_every_ui_route_is_listed(app):
    listed = {(method, path) for method, path, _ in ROUTES} | PUBLIC
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, _rule_path(rule)) in listed, "unlisted UI route %s %s" % (
                method, rule.rule)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
@pytest.mark.parametrize("method,path,permission", ROUTES,
                         ids=["%s %s" % (m, p) for m, p, _ in ROUTES])
def test_route_permissions(persona, request, method, path, permission, targets):
    url = path.format(**targets)
    role = request.node.callspec.params["persona"]
    if method == "GET":
        response = persona.get(url)
    else:
        response = persona.post(url, {})
    if role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    elif permission in GRANTS[role]:
        assert response.status_code not in (401, 403), response.get_data(as_text=True)
        assert not response.headers.get("Location", "").startswith("/login")
        if method == "GET":
            assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert "may not" in response.get_data(as_text=True)


@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize("path", [p for m, p, _ in ROUTES if m == "POST"] + ["/logout"])
def test_post_without_a_valid_csrf_token_is_refused(as_admin, session_factory, targets,
                                                     path, token):
    before = audit_count(session_factory)
    response = as_admin.post(path.format(**targets), {"role": "admin", "name": "x"},
                             csrf=False if token == "missing" else "not-the-token")
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)
    assert audit_count(session_factory) == before
    assert as_admin.get("/").status_code == 200  # still logged in


def test_the_csrf_token_of_another_session_is_refused(app, as_admin, as_deployer, targets,
                                                      make_release):
    response = as_deployer.post("/releases/%d/activate" % targets["release"],
                                csrf=as_admin.csrf_token())
    assert response.status_code == 400
    assert make_release.status(targets["release"]) == "installed"


def test_a_viewer_cannot_activate(as_viewer, targets, make_release, bus):
    sent = len(bus.sent)
    response = as_viewer.post("/releases/%d/activate" % targets["release"])
    assert response.status_code == 403
    assert make_release.status(targets["release"]) == "installed"
    assert len(bus.sent) == sent


def test_a_viewer_sees_no_buttons(as_viewer, targets):
    page = as_viewer.get("/?project=" + targets["project"]).get_data(as_text=True)
    assert "release-%d" % targets["release"] in page
    assert 'data-action="' not in page
    assert "New release" not in page


def test_the_event_stream_needs_a_login(anonymous):
    response = anonymous.get("/events?view=board&after=0")
    assert response.status_code == 401


def test_the_api_is_not_subject_to_csrf(app, session_factory):
    name = unique("ci")

    def create(session):
        user = users.create_user(session, name, "deployer")
        return users.issue_token(session, user, "ci")[0]
    token = in_tx(session_factory, create)
    response = app.test_client().post("/api/v1/projects", json={"name": "x"},
                                      headers={"Authorization": "Bearer " + token})
    assert response.status_code == 400  # validation, not CSRF
    assert response.get_json()["field"]
