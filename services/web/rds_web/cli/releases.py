"""``rds release ...``: list, create, show, activate, rebuild, cancel, delete, wait, logs."""
import time
from collections.abc import Callable
from typing import Any

import click

from rds_core.lifecycle import SETTLED
from rds_web.cli.common import Cli, api, emit, json_option, pass_cli, table, wait_option

#: how often ``logs --follow`` asks for new log text (it long-polls the status meanwhile)
FOLLOW_INTERVAL = 1.0


@click.group()
def release() -> None:
    """Releases: build, activate (rollback), cancel, delete, logs."""


def release_lines(data: dict[str, Any]) -> list[str]:
    lines = ["%s %s  #%s  %s%s%s" % (data["project"], data["version"], data["id"],
                                     data["status"], "  (deleted)" if data.get("deleted") else "",
                                     "  (pinned)" if data.get("pinned") else "")]
    if data.get("comment"):
        lines.append("  comment: %s" % data["comment"])
    if data.get("last_error"):
        lines.append("  error:   %s" % data["last_error"])
    for server in data.get("servers", []):
        lines.append("  %-30s %s%s" % (server["server"], server["state"],
                                       "  " + server["error"] if server.get("error") else ""))
    for task in data.get("tasks", []):
        if task.get("log") is not None:
            lines.append("--- %s task %s (%s) ---" % (task["kind"], task["id"], task["status"]))
            lines.append(task["log"].rstrip("\n"))
    return lines


@release.command("list")
@click.argument("project_name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@json_option
@pass_cli
@api
def release_list(cli: Cli, project_name: str, limit: int, as_json: bool) -> None:
    """Releases of a project, newest first."""
    data = cli.client().get("/projects/%s/releases?limit=%d" % (project_name, limit))
    emit(data, as_json, lambda d: table(
        [[r["id"], r["version"], r["status"], r["author"], r["created_at"], r["comment"]]
         for r in d["releases"]], ["ID", "VERSION", "STATUS", "BY", "CREATED", "COMMENT"]))


@release.command("create")
@click.argument("project_name")
@click.option("--ref", help="Branch, tag or commit (default: the project's default_ref).")
@click.option("--comment", default="")
@wait_option("it is installed on every server")
@json_option
@pass_cli
@api
def release_create(cli: Cli, project_name: str, ref: str | None, comment: str, wait: bool,
                   as_json: bool) -> None:
    """Build the next version of a project."""
    body: dict[str, Any] = {"comment": comment}
    if ref:
        body["ref"] = ref
    data = cli.client().post("/projects/%s/releases" % project_name, body)
    if wait:
        data = cli.client().wait_release(data["id"], {"installed"})
    emit(data, as_json, release_lines)


@release.command("show")
@click.argument("release_id", type=int)
@click.option("--log", is_flag=True, help="Include the build and activation logs.")
@json_option
@pass_cli
@api
def release_show(cli: Cli, release_id: int, log: bool, as_json: bool) -> None:
    """A release with its servers, tasks and (--log) logs."""
    data = cli.client().get("/releases/%d%s" % (release_id, "?log=1" if log else ""))
    emit(data, as_json, release_lines)


def _action(name: str, wait_for: set[str] | None,
            method: str = "post") -> Callable[..., Any]:
    @json_option
    @pass_cli
    @api
    def command(cli: Cli, release_id: int, as_json: bool, wait: bool = False) -> None:
        client = cli.client()
        if method == "delete":
            data = client.delete("/releases/%d" % release_id)
        else:
            data = client.post("/releases/%d/%s" % (release_id, name))
        if wait and wait_for:
            data = client.wait_release(data["id"], wait_for)
        emit(data, as_json, release_lines)
    return command


ACTIONS = {
    # verb: (what it does, statuses --wait waits for)
    "activate": ("Switch a release live (an older one: rollback).", {"used"}),
    "rebuild": ("Build the latest release again under the same version.", {"installed"}),
    "cancel": ("Cancel a release that is building.", {"cancelled", "failed", "installed"}),
    "delete": ("Soft-delete a release that is not live.", None),
    "pin": ("Keep a release on the servers whatever the retention policy says.", None),
    "unpin": ("Let the retention policy decide about a release again.", None),
    "install-missing": ("Install a partly installed release on the servers where it is "
                        "missing.", {"installed"}),
}

for _verb, (_help, _wait_for) in ACTIONS.items():
    _command = _action(_verb, _wait_for, method="delete" if _verb == "delete" else "post")
    if _wait_for:
        _command = wait_option("it is %s" % " or ".join(sorted(_wait_for)))(_command)
    _command = click.argument("release_id", type=int)(_command)
    release.command(_verb, help=_help)(_command)


@release.command("wait")
@click.argument("release_id", type=int)
@click.argument("statuses", nargs=-1, required=True)
@click.option("--timeout", default=900.0, show_default=True, type=click.FloatRange(0, 86400))
@json_option
@pass_cli
@api
def release_wait(cli: Cli, release_id: int, statuses: tuple[str, ...], timeout: float,
                 as_json: bool) -> None:
    """Wait until a release reaches one of STATUSES (fails fast on failed/cancelled)."""
    emit(cli.client().wait_release(release_id, set(statuses), timeout), as_json, release_lines)


@release.command("logs")
@click.argument("release_id", type=int)
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing new log text until the release settles.")
@pass_cli
@api
def release_logs(cli: Cli, release_id: int, follow: bool) -> None:
    """Print the logs of a release's tasks (build, activation), oldest first."""
    client = cli.client()
    printed: dict[str, int] = {}
    while True:
        data = client.get("/releases/%d?log=1" % release_id)
        for task in data["tasks"]:
            text = task.get("log", "")
            if task["id"] not in printed:
                click.echo("--- %s task %s ---" % (task["kind"], task["id"]))
                printed[task["id"]] = 0
            new = text[printed[task["id"]]:]
            if new:
                click.echo(new, nl=False)
                printed[task["id"]] = len(text)
        running = any(task["finished_at"] is None for task in data["tasks"])
        if not follow or (data["status"] in SETTLED and not running):
            if follow:
                click.echo("--- %s %s ---" % (data["version"], data["status"]))
            return
        # the long-poll returns at once when the release settles; else after the interval
        started = time.monotonic()
        client.get("/releases/%d/wait?%s&timeout=%.1f" % (
            release_id, "&".join("status=%s" % s for s in sorted(SETTLED)), FOLLOW_INTERVAL))
        if time.monotonic() - started < FOLLOW_INTERVAL / 10 and data["status"] in SETTLED:
            time.sleep(FOLLOW_INTERVAL)  # settled but a task still closing: do not spin
