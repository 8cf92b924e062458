"""Logging in and out with a user name and password (session cookie).

Logins are throttled per user name and per address and audited
(``rds_control.logins``); logout ends the user's sessions in every browser
(``rds_control.users.end_sessions``). The clock is ``app.config["CLOCK"]``
(tests inject a fake one).
"""
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from rds_control.logins import attempt_login, record_logout
from rds_db.models.base import utcnow
from rds_web.db import run
from rds_web.ui.common import log_in, safe_next

bp = Blueprint("auth", __name__)

MAX_USERNAME = 64
MAX_PASSWORD = 1024


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the login form; check the password and start a session."""
    next_url = request.values.get("next", "")
    if not isinstance(next_url, str) or safe_next(next_url, "board.index") != next_url:
        next_url = ""
    if request.method == "GET":
        if g.user is not None:
            return redirect(safe_next(next_url))
        return render_template("login.html", next=next_url, username="")
    username = (request.form.get("username") or "").strip()[:MAX_USERNAME + 1]
    password = (request.form.get("password") or "")[:MAX_PASSWORD + 1]
    clock = current_app.config.get("CLOCK") or utcnow
    outcome = run(attempt_login, username, password, request.remote_addr or "?", clock())
    if outcome.retry_after:
        response = current_app.make_response((render_template(
            "login.html", next=next_url, username=username,
            error="Too many failed logins. Try again in %d seconds." % outcome.retry_after),
            429))
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if outcome.user is None:
        return render_template("login.html", next=next_url, username=username,
                               error="Wrong user name or password."), 401
    log_in(outcome.user)
    flash("Welcome, %s." % outcome.user.username, "success")
    return redirect(safe_next(next_url))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session, here and in every other browser of the user."""
    if g.user is not None:
        run(record_logout, g.user.id)
    session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))
