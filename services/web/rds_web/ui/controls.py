"""Release bans, the deployment switch, release lines and notifications in the UI.

Bans are set and lifted from the board and the project page (deployers and
admins), the switch from the board (admins) and switched back on from the
banner every page shows while deploys are stopped; a new release line is
started from the project page, and so are notification channels added and
removed. Everything goes through ``rds_control`` (``controls``, ``lines``,
``channels``), which validates, enforces the roles and audits.
"""
from flask import Blueprint, Flask, flash, g, request
from flask.typing import ResponseReturnValue

from rds_control import channels, controls, families, lines
from rds_db.models import DeploymentSwitch
from rds_web.db import get_session
from rds_web.ui.common import back, form_text, perform, requires

bp = Blueprint("controls", __name__)


def _optional_int(name: str) -> int | str | None:
    text = form_text(name)
    if not text:
        return None
    return int(text) if text.isdigit() else text  # the control plane names a bad value


@bp.post("/bans")
@requires("deploy")
def set_ban() -> ResponseReturnValue:
    """Ban new releases of a project on a line (nothing is saved on error)."""
    name = form_text("project")
    if not name:
        flash("project: choose the project to ban", "error")
        return back()
    data = {"comment": form_text("comment"), "release_line": _optional_int("release_line"),
            "expires_at": form_text("expires_at") or None}
    perform(lambda s: controls.describe(controls.set_ban(s, name, data, g.user)),
            success=lambda text: "Banned releases of %s." % text)
    return back()


@bp.post("/bans/<int:ban_id>/lift")
@requires("deploy")
def lift_ban(ban_id: int) -> ResponseReturnValue:
    """Lift a release ban."""
    perform(lambda s: controls.describe(controls.lift_ban(s, ban_id, g.user)),
            success=lambda text: "Lifted the release ban of %s." % text)
    return back()


@bp.post("/deployment")
@requires("view")  # the control plane lets only admins flip it and says so
def flip_switch() -> ResponseReturnValue:
    """Switch every deploy off (with a reason) or back on."""
    enabled = request.form.get("enabled") == "on"
    data = {"enabled": enabled, "reason": form_text("reason")}
    perform(lambda s: controls.set_switch(s, data, g.user).enabled,
            success=lambda on: "Deployment is switched %s." % ("on" if on else "off"))
    return back()


@bp.post("/projects/<name>/lines")
@requires("manage_projects")
def create_line(name: str) -> ResponseReturnValue:
    """Start a new release line of a project."""
    data = {"number": _optional_int("number"), "name": form_text("name")}
    perform(lambda s: lines.create_line(s, name, data, g.user),
            success=lambda number: "New releases of %s now go to line %d." % (name, number))
    return back("projects.index")


@bp.post("/projects/<name>/notifications")
@requires("manage_projects")
def add_channel(name: str) -> ResponseReturnValue:
    """Subscribe an email address or a webhook to some events of the project."""
    data = {"kind": form_text("kind"), "target": form_text("target"),
            "events": request.form.getlist("events")}
    if form_text("secret"):
        data["secret"] = form_text("secret")
    perform(lambda s: channels.describe(channels.add_channel(s, name, data, g.user)),
            success=lambda text: "Added notification channel %s." % text)
    return back("projects.index")


@bp.post("/notifications/<int:channel_id>/delete")
@requires("manage_projects")
def remove_channel(channel_id: int) -> ResponseReturnValue:
    """Remove a notification channel."""
    perform(lambda s: channels.remove_channel(s, channel_id, g.user),
            success=lambda text: "Removed notification channel %s." % text)
    return back("projects.index")


@bp.post("/projects/<name>/children")
@requires("manage_projects")
def link_child(name: str) -> ResponseReturnValue:
    """Make another project a child of this one."""
    data = {"child": form_text("child")}
    perform(lambda s: families.link(s, name, data, g.user).name,
            success=lambda child: "%s is now a child of %s." % (child, name))
    return back("projects.index")


@bp.post("/projects/<name>/children/<child>/unlink")
@requires("manage_projects")
def unlink_child(name: str, child: str) -> ResponseReturnValue:
    """Unlink a child project."""
    perform(lambda s: families.unlink(s, name, child, g.user),
            success="%s is no longer a child of %s." % (child, name))
    return back("projects.index")


def _switch() -> DeploymentSwitch | None:
    """The deployment switch when it is off (for the banner of every page), else None."""
    if g.get("user") is None or request.endpoint == "static":
        return None
    switch = controls.deployment_switch(get_session())
    return None if switch.enabled else switch


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(lambda: {"deployment_off": _switch()})


