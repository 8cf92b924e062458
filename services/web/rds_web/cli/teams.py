"""CLI verbs for bans, the deployment switch, release lines and notifications (over the API).

    rds ban set PROJECT --comment C [--line N] [--until 2026-12-24T18:00Z]
    rds ban lift BAN_ID
    rds ban list [PROJECT]
    rds deployment off --reason R      (admin)
    rds deployment on [--reason R]     (admin)
    rds deployment show
    rds line create PROJECT [--number N] [--name NAME]
    rds line show PROJECT
    rds notify add PROJECT (--email A | --slack URL | --webhook URL --secret S) [--event E ...]
    rds notify list PROJECT
    rds notify remove CHANNEL_ID
    rds family show PROJECT
    rds family link PARENT CHILD
    rds family unlink PARENT CHILD

Like the other API verbs they use ``--url``/``RDS_URL`` and
``--token``/``RDS_TOKEN``, and print the API's JSON; a refusal prints the
API's error (which names the bad field) and exits with status 1.
"""
import json
from collections.abc import Callable

import click

from rds_web.cli.common import Cli
from rds_web.client import ApiClient, ApiError


def _client() -> ApiClient:
    cli = click.get_current_context().find_object(Cli)
    if cli is None:
        raise RuntimeError("no Cli object in the click context (the rds group creates it)")
    return cli.client()


def _call(fn: Callable[[ApiClient], object]) -> None:
    try:
        data = fn(_client())
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group()
def ban() -> None:
    """Release bans of a project and release line (API)."""


@ban.command("set")
@click.argument("project")
@click.option("--comment", required=True, help="Why (shown on the board).")
@click.option("--line", "release_line", type=int, help="Release line (default: current).")
@click.option("--until", "expires_at", help="Expiry, ISO 8601 (no zone: UTC).")
def ban_set(project: str, comment: str, release_line: int | None,
            expires_at: str | None) -> None:
    """Ban new releases of PROJECT on a release line."""
    body = {"comment": comment, "release_line": release_line, "expires_at": expires_at}
    _call(lambda c: c.post("/projects/%s/bans" % project,
                           {k: v for k, v in body.items() if v is not None}))


@ban.command("lift")
@click.argument("ban_id", type=int)
def ban_lift(ban_id: int) -> None:
    """Lift a release ban."""
    _call(lambda c: c.post("/bans/%d/lift" % ban_id))


@ban.command("list")
@click.argument("project", required=False)
def ban_list(project: str | None) -> None:
    """Release bans in force (of one project, or all)."""
    _call(lambda c: c.get("/projects/%s/bans" % project if project else "/bans"))


@click.group()
def deployment() -> None:
    """The global deployment switch (API; changing it needs an admin token)."""


@deployment.command("off")
@click.option("--reason", required=True)
def deployment_off(reason: str) -> None:
    """Stop every deploy (a rollback to the previous version stays possible)."""
    _call(lambda c: c.request("PUT", "/deployment", {"enabled": False, "reason": reason}))


@deployment.command("on")
@click.option("--reason", default="")
def deployment_on(reason: str) -> None:
    """Allow deploys again."""
    _call(lambda c: c.request("PUT", "/deployment", {"enabled": True, "reason": reason}))


@deployment.command("show")
def deployment_show() -> None:
    """Whether deployment is on, and why not."""
    _call(lambda c: c.get("/deployment"))


@click.group()
def line() -> None:
    """Release lines of a project (API)."""


@line.command("create")
@click.argument("project")
@click.option("--number", type=int, help="Default: the current line + 1.")
@click.option("--name", default="")
def line_create(project: str, number: int | None, name: str) -> None:
    """Start a new release line: the next versions are <line>.00.001.<M>."""
    body = {"name": name} | ({"number": number} if number is not None else {})
    _call(lambda c: c.post("/projects/%s/lines" % project, body))


@line.command("show")
@click.argument("project")
def line_show(project: str) -> None:
    """The project's release lines and the current one."""
    _call(lambda c: c.get("/projects/%s/lines" % project))


@click.group()
def notify() -> None:
    """Notification channels of a project (API)."""


@notify.command("add")
@click.argument("project")
@click.option("--email", help="Send email to this address.")
@click.option("--slack", help="POST Slack-compatible JSON to this URL.")
@click.option("--webhook", help="POST generic JSON signed with HMAC-SHA256 to this URL.")
@click.option("--secret", help="Signing key of --webhook (16-200 characters).")
@click.option("--event", "events", multiple=True, help="Subscribe to this event (repeatable; "
              "default: every event).")
def notify_add(project: str, email: str | None, slack: str | None, webhook: str | None,
               secret: str | None, events: tuple[str, ...]) -> None:
    """Subscribe a channel to events of PROJECT."""
    given = [(kind, target) for kind, target in
             (("email", email), ("slack", slack), ("webhook", webhook)) if target]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --email, --slack, --webhook")
    kind, target = given[0]
    body = {"kind": kind, "target": target} | ({"secret": secret} if secret else {}) | (
        {"events": list(events)} if events else {})
    _call(lambda c: c.post("/projects/%s/notifications" % project, body))


@notify.command("list")
@click.argument("project")
def notify_list(project: str) -> None:
    """The project's channels, with the last delivery error of each."""
    _call(lambda c: c.get("/projects/%s/notifications" % project))


@notify.command("remove")
@click.argument("channel_id", type=int)
def notify_remove(channel_id: int) -> None:
    """Remove a notification channel."""
    _call(lambda c: c.request("DELETE", "/notifications/%d" % channel_id))


@click.group()
def family() -> None:
    """Parent/child projects (API): released and activated together."""


@family.command("show")
@click.argument("project")
def family_show(project: str) -> None:
    """The project's parent and children."""
    _call(lambda c: c.get("/projects/%s/family" % project))


@family.command("link")
@click.argument("parent")
@click.argument("child")
def family_link(parent: str, child: str) -> None:
    """Make CHILD a child project of PARENT."""
    _call(lambda c: c.post("/projects/%s/children" % parent, {"child": child}))


@family.command("unlink")
@click.argument("parent")
@click.argument("child")
def family_unlink(parent: str, child: str) -> None:
    """Unlink CHILD from PARENT."""
    _call(lambda c: c.request("DELETE", "/projects/%s/children/%s" % (parent, child)))


#: The groups to add to ``rds`` (``rds_web.cli.COMMANDS``).
GROUPS: tuple[click.Group, ...] = (ban, deployment, line, notify, family)
