"""Administration: users, their roles, and API tokens (admins only)."""
from collections.abc import Callable

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from rds_control import user_admin, users
from rds_control.errors import ControlError
from rds_db.models import Role, User
from rds_web.db import get_session, run
from rds_web.ui.common import form_text, perform, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")
ROLES = [r.value for r in Role]


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render_template("admin_users.html", users=user_admin.list_users(get_session()),
                           roles=ROLES, **context), status


@bp.get("/users")
@requires("admin")
def index() -> ResponseReturnValue:
    """List users with their role, state and API tokens."""
    return _page()


@bp.post("/users")
@requires("admin")
def create_user() -> ResponseReturnValue:
    """Create a user who logs in with a password."""
    values = {"username": form_text("username"), "email": form_text("email"),
              "role": form_text("role", "viewer")}
    try:
        run(lambda s: users.create_user(s, values["username"], values["role"],
                                        password=request.form.get("password") or "",
                                        email=values["email"] or None, actor=g.user).id)
    except ControlError as exc:
        return _page(exc.status, values=values, errors={exc.field or "form": exc.message})
    flash("Created user %s (%s)." % (values["username"], values["role"]), "success")
    return redirect(url_for("admin.index"))


def _change_user(change: Callable[[Session], User], done: Callable[[str], str]) -> Response:
    """Change a user as the admin, flash ``done(username)`` or the refusal, back to the list."""
    perform(lambda s: change(s).username, success=done)
    return redirect(url_for("admin.index"))


@bp.post("/users/<int:user_id>/role")
@requires("admin")
def set_role(user_id: int) -> ResponseReturnValue:
    """Give a user another role."""
    role = form_text("role")
    return _change_user(lambda s: user_admin.set_role(s, user_id, role, g.user),
                        lambda name: "%s is now %s." % (name, role))


@bp.post("/users/<int:user_id>/disable")
@requires("admin")
def disable(user_id: int) -> ResponseReturnValue:
    """Disable a user: no login, no API access."""
    return _change_user(lambda s: user_admin.set_disabled(s, user_id, True, g.user),
                        lambda name: "Disabled %s." % name)


@bp.post("/users/<int:user_id>/enable")
@requires("admin")
def enable(user_id: int) -> ResponseReturnValue:
    """Enable a disabled user again."""
    return _change_user(lambda s: user_admin.set_disabled(s, user_id, False, g.user),
                        lambda name: "Enabled %s." % name)


@bp.post("/users/<int:user_id>/password")
@requires("admin")
def password(user_id: int) -> ResponseReturnValue:
    """Set a new password for a user."""
    new = request.form.get("password") or ""
    return _change_user(lambda s: user_admin.reset_password(s, user_id, new, g.user),
                        lambda name: "Set a new password for %s." % name)


@bp.post("/users/<int:user_id>/tokens")
@requires("admin")
def issue_token(user_id: int) -> ResponseReturnValue:
    """Issue an API token for a user and show it once (never stored in clear)."""
    name = form_text("name", "token")
    try:
        owner, token = run(lambda s: _issue(s, user_id, name))
    except ControlError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.index"))
    body, status = _page(new_token={"owner": owner, "name": name, "token": token})
    return body, status, {"Cache-Control": "no-store"}


def _issue(session: Session, user_id: int, name: str) -> tuple[str, str]:
    user = user_admin.get_user_by_id(session, user_id)
    token, _ = users.issue_token(session, user, name, actor=g.user)
    return user.username, token


@bp.post("/tokens/<int:token_id>/revoke")
@requires("admin")
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke an API token."""
    perform(lambda s: users.revoke_token(s, token_id, g.user), success="Token revoked.")
    return redirect(url_for("admin.index"))
