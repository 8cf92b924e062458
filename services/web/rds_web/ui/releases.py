"""One release: its page, and the actions on it (activate, revert, rebuild, cancel, pin,
unpin, delete)."""
from collections.abc import Callable

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from rds_control import audit, board, installs, releases
from rds_control.changes import last_change_id
from rds_control.errors import NotFound
from rds_db.models import ReleaseRequest, User
from rds_web.db import get_session
from rds_web.ui.common import back, perform, requires
from rds_web.ui.release_extras import release_extras

bp = Blueprint("releases", __name__)


@bp.get("/releases/<int:release_id>")
@requires("view")
def show(release_id: int) -> ResponseReturnValue:
    """Show a release: its board row, servers, tasks and history."""
    session = get_session()
    after = last_change_id(session)
    row = board.board_row(session, release_id, g.user)
    if row is None:
        raise NotFound("no release with id %s" % release_id)
    history = audit.audit_page(session, release_id=release_id, page_size=100)
    return render_template("release.html", row=row, release=row.release, after=after,
                           history=history, **release_extras(session, row.release))


def release_action(fn: Callable[[Session, int, User], ReleaseRequest], release_id: int,
                   message: str) -> Response:
    """Run a control-plane action on a release as the user, flash ``message`` (its ``%s``:
    the project and version) or the refusal, and go back to the page the form was on."""
    def act(session: Session) -> str:
        release = fn(session, release_id, g.user)
        return message % ("%s %s" % (release.project.name, release.version))
    perform(act, success=lambda said: said)
    return back()


@bp.post("/releases/<int:release_id>/activate")
@requires("deploy")
def activate(release_id: int) -> ResponseReturnValue:
    """Switch a release live on every server (an older one: roll back to it)."""
    return release_action(releases.activate_release, release_id, "Activating %s.")


@bp.post("/releases/<int:release_id>/rebuild")
@requires("deploy")
def rebuild(release_id: int) -> ResponseReturnValue:
    """Build the latest release again under the same version."""
    return release_action(releases.rebuild_release, release_id, "Rebuilding %s.")


@bp.post("/releases/<int:release_id>/cancel")
@requires("deploy")
def cancel(release_id: int) -> ResponseReturnValue:
    """Cancel a release that is building."""
    return release_action(releases.cancel_release, release_id, "Cancelling %s.")


@bp.post("/releases/<int:release_id>/delete")
@requires("deploy")
def delete(release_id: int) -> ResponseReturnValue:
    """Soft-delete a release that is not live (its files go with the next cleanup)."""
    return release_action(releases.delete_release, release_id, "Deleted %s.")


@bp.post("/releases/<int:release_id>/pin")
@requires("deploy")
def pin(release_id: int) -> ResponseReturnValue:
    """Keep a release on the servers whatever the retention policy says."""
    return release_action(lambda s, rid, user: releases.set_pinned(s, rid, user, True),
                          release_id, "Pinned %s.")


@bp.post("/releases/<int:release_id>/unpin")
@requires("deploy")
def unpin(release_id: int) -> ResponseReturnValue:
    """Let the retention policy decide about a release again."""
    return release_action(lambda s, rid, user: releases.set_pinned(s, rid, user, False),
                          release_id, "Unpinned %s.")


@bp.post("/releases/<int:release_id>/install-missing")
@requires("deploy")
def install_missing(release_id: int) -> ResponseReturnValue:
    """Install a partly installed release on the servers where it is missing."""
    return release_action(installs.install_missing, release_id,
                          "Installing on the missing servers: %s.")


@bp.post("/projects/<name>/revert")
@requires("deploy")
def revert(name: str) -> ResponseReturnValue:
    """Activate the version that was live before the current one."""
    def act(session: Session) -> str:
        release = releases.revert_project(session, name, g.user)
        return "Reverting %s to %s." % (name, release.version)
    perform(act, success=lambda message: message)
    return back()
