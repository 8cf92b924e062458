"""Release bans, the deployment switch, release lines and notification channels.

``GET/POST /projects/<name>/bans``, ``GET /bans``, ``POST /bans/<id>/lift``
(deployers and admins), ``GET/PUT /deployment`` (the switch: admins change
it), ``GET/POST /projects/<name>/lines``, ``GET/POST
/projects/<name>/notifications``, ``DELETE /notifications/<id>``, ``GET
/projects/<name>/family``, ``POST /projects/<name>/children``, ``DELETE
/projects/<name>/children/<child>``. The
response models below feed the OpenAPI document (``openapi_paths``), like
those in ``rds_web.api.schemas``.
"""
from collections.abc import Callable
from datetime import datetime

from flask import g
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy.orm import Session

from rds_control import channels, controls, families, lines
from rds_control.channels import ChannelInput
from rds_control.lines import LineInput
from rds_control.projects import get_project
from rds_db.models import DeploymentSwitch, NotificationChannel, ReleaseBan
from rds_web.api import bp, json_body
from rds_web.api.params import path_param
from rds_web.api.schemas import Out, dump
from rds_web.auth import require
from rds_web.db import get_session, run
from rds_web.json_types import JSONObject


class BanOut(Out):
    id: int
    project: str
    release_line: int
    comment: str
    author: str | None
    created_at: datetime | None
    expires_at: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None

    @classmethod
    def of(cls, ban: ReleaseBan) -> "BanOut":
        return cls(id=ban.id, project=ban.project.name, release_line=ban.release_line,
                   comment=ban.comment, author=ban.author.username if ban.author else None,
                   created_at=ban.created_at, expires_at=ban.expires_at,
                   lifted_at=ban.lifted_at,
                   lifted_by=ban.lifted_by.username if ban.lifted_by else None)


class BanList(Out):
    bans: list[BanOut]


class SwitchOut(Out):
    enabled: bool
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None

    @classmethod
    def of(cls, switch: DeploymentSwitch) -> "SwitchOut":
        return cls(enabled=bool(switch.enabled), reason=switch.reason,
                   changed_by=switch.user.username if switch.user else None,
                   changed_at=switch.changed_at)


class LinesOut(Out):
    project: str
    #: Where new releases go unless a request names another line.
    current: int
    lines: list[int]


class ChannelOut(Out):
    id: int
    kind: str
    #: The email address; for webhooks only scheme and host (URLs often hold a token).
    target: str
    events: list[str]
    #: The last delivery attempt failed (``last_error`` says why).
    failing: bool
    last_error: str | None
    last_error_at: datetime | None
    last_sent_at: datetime | None

    @classmethod
    def of(cls, channel: NotificationChannel) -> "ChannelOut":
        return cls(id=channel.id, kind=str(channel.kind),
                   target=channels.describe(channel).split(" ", 1)[1],
                   events=list(channel.events), failing=channel.failing,
                   last_error=channel.last_error, last_error_at=channel.last_error_at,
                   last_sent_at=channel.last_sent_at)


class ChannelList(Out):
    channels: list[ChannelOut]


def _lines_body(session: Session, name: str) -> dict[str, object]:
    project = get_project(session, name)
    known = lines.project_lines(session, project)
    return dump(LinesOut(project=project.name, current=known[-1], lines=known))


@bp.get("/bans")
@require("view")
def list_bans() -> ResponseReturnValue:
    """Every release ban in force now, of every project."""
    return dump(BanList(bans=[BanOut.of(b) for b in controls.active_bans(get_session())]))


@bp.get("/projects/<name>/bans")
@require("view")
def project_bans(name: str) -> ResponseReturnValue:
    """The project's release bans in force now."""
    session = get_session()
    get_project(session, name)
    return dump(BanList(bans=[BanOut.of(b) for b in controls.active_bans(session, name)]))


@bp.post("/projects/<name>/bans")
@require("deploy")
def set_ban(name: str) -> ResponseReturnValue:
    """Ban new releases of a project on a release line. :raise 400: bad field."""
    data = json_body()
    return run(lambda s: dump(BanOut.of(controls.set_ban(s, name, data, g.user)))), 201


@bp.post("/bans/<int:ban_id>/lift")
@require("deploy")
def lift_ban(ban_id: int) -> ResponseReturnValue:
    """Lift a release ban before its expiry. :raise 409: already ended."""
    return run(lambda s: dump(BanOut.of(controls.lift_ban(s, ban_id, g.user))))


@bp.get("/deployment")
@require("view")
def show_switch() -> ResponseReturnValue:
    """The deployment switch: on, or off with the reason."""
    return dump(SwitchOut.of(controls.deployment_switch(get_session())))


@bp.put("/deployment")
@require("view")  # the control plane lets only admins flip it (403 with the reason)
def flip_switch() -> ResponseReturnValue:
    """Switch every deploy off (with a reason) or back on. :raise 403: not an admin."""
    data = json_body()
    return run(lambda s: dump(SwitchOut.of(controls.set_switch(s, data, g.user))))


@bp.get("/projects/<name>/lines")
@require("view")
def project_lines(name: str) -> ResponseReturnValue:
    """The project's release lines and the current one."""
    return _lines_body(get_session(), name)


@bp.post("/projects/<name>/lines")
@require("manage_projects")
def create_line(name: str) -> ResponseReturnValue:
    """Start a new release line (default: current + 1). :raise 400: not above current."""
    data = json_body()
    def create(session: Session) -> dict[str, object]:
        lines.create_line(session, name, data, g.user)
        return _lines_body(session, name)
    return run(create), 201


@bp.get("/projects/<name>/notifications")
@require("view")
def list_channels(name: str) -> ResponseReturnValue:
    """The project's notification channels, with the last delivery error of each."""
    session = get_session()
    project = get_project(session, name)
    return dump(ChannelList(channels=[ChannelOut.of(c)
                                      for c in channels.list_channels(session, project.id)]))


@bp.post("/projects/<name>/notifications")
@require("manage_projects")
def add_channel(name: str) -> ResponseReturnValue:
    """Subscribe an email address or webhook to events. :raise 400: bad field."""
    data = json_body()
    return run(lambda s: dump(ChannelOut.of(channels.add_channel(s, name, data, g.user)))), 201


@bp.delete("/notifications/<int:channel_id>")
@require("manage_projects")
def remove_channel(channel_id: int) -> ResponseReturnValue:
    """Remove a notification channel (and what it had not sent yet)."""
    return {"removed": run(lambda s: channels.remove_channel(s, channel_id, g.user))}


class FamilyOut(Out):
    project: str
    parent: str | None
    children: list[str]

    @classmethod
    def of(cls, session: Session, name: str) -> "FamilyOut":
        summary = families.family_summary(session, get_project(session, name))
        return cls(project=summary["project"], parent=summary["parent"],
                   children=summary["children"])


@bp.get("/projects/<name>/family")
@require("view")
def show_family(name: str) -> ResponseReturnValue:
    """The project's parent and children."""
    return dump(FamilyOut.of(get_session(), name))


@bp.post("/projects/<name>/children")
@require("manage_projects")
def link_child(name: str) -> ResponseReturnValue:
    """Make ``{"child": NAME}`` a child project. :raise 400: cycle, second parent."""
    data = json_body()
    def link(session: Session) -> dict[str, object]:
        families.link(session, name, data, g.user)
        return dump(FamilyOut.of(session, name))
    return run(link), 201


@bp.delete("/projects/<name>/children/<child>")
@require("manage_projects")
def unlink_child(name: str, child: str) -> ResponseReturnValue:
    """Unlink a child project."""
    def unlink(session: Session) -> dict[str, object]:
        families.unlink(session, name, child, g.user)
        return dump(FamilyOut.of(session, name))
    return run(unlink)


REQUESTS = (controls.BanInput, controls.SwitchInput, LineInput, ChannelInput,
            families.ChildInput)
RESPONSES = (BanOut, BanList, SwitchOut, LinesOut, ChannelOut, ChannelList, FamilyOut)


def openapi_paths(op: Callable[..., JSONObject],
                  body: Callable[[str, type[BaseModel]], JSONObject], error: JSONObject,
                  name: JSONObject) -> dict[str, dict[str, JSONObject]]:
    """This module's routes for the OpenAPI document (helpers passed in by it)."""
    ban_id = path_param("ban_id", {"type": "integer"})
    bans, ban = body("bans in force", BanList), body("the ban", BanOut)
    switch, lines_ = body("the switch", SwitchOut), body("the lines", LinesOut)
    channel_id = path_param("channel_id", {"type": "integer"})
    return {
        "/bans": {"get": op("Release bans in force, every project", {"200": bans})},
        "/projects/{name}/bans": {
            "get": op("Release bans of a project in force", {"200": bans, "404": error},
                      params=[name]),
            "post": op("Ban new releases on a line (deployer, admin)",
                       {"201": ban, "400": error, "403": error, "404": error},
                       params=[name], body="BanInput")},
        "/bans/{ban_id}/lift": {
            "post": op("Lift a release ban", {"200": ban, "403": error, "404": error,
                                              "409": error}, params=[ban_id])},
        "/deployment": {
            "get": op("The deployment switch", {"200": switch}),
            "put": op("Switch every deploy off (with a reason) or on (admin)",
                      {"200": switch, "400": error, "403": error, "409": error},
                      body="SwitchInput")},
        "/projects/{name}/lines": {
            "get": op("Release lines of a project and the current one",
                      {"200": lines_, "404": error}, params=[name]),
            "post": op("Start a new release line (default: current + 1)",
                       {"201": lines_, "400": error, "404": error}, params=[name],
                       body="LineInput")},
        "/projects/{name}/notifications": {
            "get": op("Notification channels of a project, with their last error",
                      {"200": body("channels", ChannelList), "404": error}, params=[name]),
            "post": op("Subscribe an email address or a webhook to events",
                       {"201": body("the channel", ChannelOut), "400": error, "404": error},
                       params=[name], body="ChannelInput")},
        "/projects/{name}/family": {
            "get": op("Parent and children of a project",
                      {"200": body("the family", FamilyOut), "404": error}, params=[name])},
        "/projects/{name}/children": {
            "post": op("Link a child project (no cycles, one parent per project)",
                       {"201": body("the family", FamilyOut), "400": error, "404": error},
                       params=[name], body="ChildInput")},
        "/projects/{name}/children/{child}": {
            "delete": op("Unlink a child project",
                         {"200": body("the family", FamilyOut), "400": error, "404": error},
                         params=[name, dict(name, name="child")])},
        "/notifications/{channel_id}": {
            "delete": op("Remove a notification channel",
                         {"200": {"description": "removed"}, "404": error},
                         params=[channel_id])},
    }
