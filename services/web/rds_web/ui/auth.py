"""Logging in and out with a user name and password (session cookie)."""
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from rds_control.accounts import record_login, record_logout
from rds_control.users import check_password
from rds_web.db import run
from rds_web.ui.common import log_in, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; check the password and start a session."""
    next_url = request.values.get("next", "")
    if request.method == "GET":
        if g.user is not None:
            return redirect(safe_next(next_url))
        return render_template("login.html", next=next_url, username="")
    username = (request.form.get("username") or "").strip()
    user = run(_check, username, request.form.get("password") or "",
               request.remote_addr or "?")
    if user is None:
        return render_template("login.html", next=next_url, username=username,
                               error="Wrong user name or password."), 401
    log_in(user)
    flash("Welcome, %s." % user.username, "success")
    return redirect(safe_next(next_url))


@bp.post("/logout")
def logout():
    """End the session."""
    if g.user is not None:
        run(record_logout, g.user.id)
    session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))


def _check(session, username, password, address):
    user = check_password(session, username, password)  # also records the login time
    record_login(session, username, user, address)
    return user
