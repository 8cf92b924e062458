"""Releases: create, list, show (with builds, logs and allowed actions), activate,
rebuild, cancel, pin, unpin, delete."""

from collections.abc import Callable

from flask import Response, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from rds_control import installs, release_data, releases
from rds_control.errors import InvalidInput
from rds_control.projects import get_project
from rds_core.lifecycle import ReleaseStatus
from rds_core.names import InvalidName
from rds_core.versions import version_key
from rds_db.models import ReleaseRequest, User
from rds_web.api import bp, json_body
from rds_web.api.longpoll import long_poll, seconds_arg
from rds_web.api.schemas import release_body, releases_json
from rds_web.auth import require
from rds_web.db import get_session, run

TERMINAL = {"failed", "cancelled"}
#: Longest long-poll, in seconds.


@bp.post("/projects/<name>/releases")
@require("deploy")
def create_release(name: str) -> ResponseReturnValue:
    """Allocate the next version of a project and build it. :raise 403: ban or switch off."""
    data = json_body()
    def create(session: Session) -> dict[str, object]:
        return release_body(session, releases.create_release(session, name, data, g.user),
                            g.user)
    return run(create), 201


@bp.get("/projects/<name>/releases")
@require("view")
def list_releases(name: str) -> ResponseReturnValue:
    """The project's releases, highest version first (``?limit=`` 1-500, default 50;
    ``?before=<version>`` continues after the last version of the previous page)."""
    session = get_session()
    project = get_project(session, name)
    limit_text = request.args.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 500:
        raise InvalidInput("limit must be a whole number from 1 to 500", field="limit")
    columns = release_data.RELEASE
    query = release_data.rows_query().where(columns.project_id == project.id)
    before = request.args.get("before")
    if before is not None:
        try:
            key = list(version_key(before))
        except InvalidName as exc:
            raise InvalidInput("before: %s" % exc, field="before") from None
        query = query.where(columns.version_key < key)
    query = query.order_by(columns.version_key.desc()).limit(int(limit_text))
    return Response(releases_json(session, query, g.user), mimetype="application/json")


@bp.get("/releases/<int:release_id>")
@require("view")
def show_release(release_id: int) -> ResponseReturnValue:
    """A release with its status, builds and (``?log=1``) their logs."""
    with_log = request.args.get("log") in ("1", "true", "yes")
    session = get_session()
    return release_body(session, release_id, g.user, with_log=with_log)


@bp.get("/releases/<int:release_id>/wait")
@require("view")
def wait_release(release_id: int) -> ResponseReturnValue:
    """Long-poll: return the release once its status is one of ``?status=`` (repeatable),
    once it ended failed/cancelled, or after ``?timeout=`` seconds (default 25, max 60)."""
    wanted = set(request.args.getlist("status"))
    if not wanted:
        raise InvalidInput("give at least one ?status=", field="status")
    unknown = wanted - {s.value for s in ReleaseStatus}
    if unknown:
        raise InvalidInput("unknown status %s" % sorted(unknown)[0][:40], field="status")
    timeout = seconds_arg("timeout", 25)

    def read() -> dict[str, object]:
        session = get_session()
        return release_body(session, release_id, g.user)
    return long_poll(read, lambda data: data["status"] in wanted | TERMINAL, timeout)


def release_action(fn: Callable[[Session, int, User], ReleaseRequest], release_id: int,
                   status: int = 202) -> ResponseReturnValue:
    """Run a control-plane action on a release as the caller; answer the release (with
    every action's answer) or the refusal."""
    def act(session: Session) -> dict[str, object]:
        return release_body(session, fn(session, release_id, g.user), g.user)
    return run(act), status


@bp.post("/releases/<int:release_id>/activate")
@require("deploy")
def post_activate(release_id: int) -> ResponseReturnValue:
    """Activate an installed or old release (rollback too). :raise 409: not activatable.

    Body (optional): ``{"override_reason": "..."}``, an admin going below the
    rollback floor."""
    from rds_web.api.migrations import override_reason

    reason = override_reason()
    return release_action(lambda s, rid, user: releases.activate_release(
        s, rid, user, override_reason=reason), release_id)


@bp.post("/releases/<int:release_id>/rebuild")
@require("deploy")
def rebuild_release(release_id: int) -> ResponseReturnValue:
    """Build the latest release again under the same version."""
    return release_action(releases.rebuild_release, release_id)


@bp.post("/releases/<int:release_id>/cancel")
@require("deploy")
def cancel_release(release_id: int) -> ResponseReturnValue:
    """Cancel a release that is building."""
    return release_action(releases.cancel_release, release_id)


@bp.post("/releases/<int:release_id>/pin")
@require("deploy")
def pin_release(release_id: int) -> ResponseReturnValue:
    """Keep a release on the servers whatever the retention policy says."""
    return release_action(lambda s, rid, user: releases.set_pinned(s, rid, user, True),
                          release_id, status=200)


@bp.post("/releases/<int:release_id>/unpin")
@require("deploy")
def unpin_release(release_id: int) -> ResponseReturnValue:
    """Let the retention policy decide about a release again."""
    return release_action(lambda s, rid, user: releases.set_pinned(s, rid, user, False),
                          release_id, status=200)


@bp.post("/releases/<int:release_id>/install-missing")
@require("deploy")
def install_missing(release_id: int) -> ResponseReturnValue:
    """Install a partly installed release on the servers where it is missing.

    :raise 409: installed everywhere, not installed, or a build is running.
    """
    return release_action(installs.install_missing, release_id)


@bp.delete("/releases/<int:release_id>")
@require("deploy")
def delete_release(release_id: int) -> ResponseReturnValue:
    """Soft-delete a release that is not live (its files go with the next GC)."""
    return release_action(releases.delete_release, release_id, status=200)
