"""The server-rendered web UI: one blueprint per area, session login, CSRF on every POST.

Areas: ``auth`` (login/logout), ``board`` (home: the release board and the
new-release form), ``releases`` (release actions and page), ``builds``
(build page with the live log), ``projects`` (settings and script editors),
``agents``, ``audit``, ``admin`` (users, roles, API tokens) and ``events``
(the server-sent event stream behind every live page).
"""
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

def init_app(app: Flask) -> None:
    from rds_web import api
    from rds_web.ui import (
        admin,
        agents,
        audit,
        auth,
        board,
        builds,
        common,
        configs,
        controls,
        events,
        gc,
        migrations,
        projects,
        releases,
    )

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("PUBLIC_URL", "").startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=float(app.config["UI_SESSION_HOURS"]))
    # browsers ask for /favicon.ico whatever the page says
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))
    csrf.init_app(app)
    csrf.exempt(api.bp)  # token-authenticated, no cookies
    common.init_app(app)
    gc.init_app(app)
    controls.init_app(app)
    for module in (auth, board, releases, builds, projects, agents, audit, admin, events, gc,
                   migrations, configs):
        app.register_blueprint(module.bp)
