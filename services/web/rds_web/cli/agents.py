"""``rds agents``: the agent copies the web has heard from."""
import click

from rds_web.cli.common import Cli, api, emit, json_option, pass_cli, table


@click.command()
@click.option("--pool", help="Only this pool.")
@click.option("--online", is_flag=True, help="Only copies whose heartbeat is fresh.")
@json_option
@pass_cli
@api
def agents(cli: Cli, pool: str | None, online: bool, as_json: bool) -> None:
    """Agent copies: pool, version, last heartbeat, online, running tasks."""
    data = cli.client().get("/agents")
    data["agents"] = [a for a in data["agents"]
                      if (pool is None or a["pool"] == pool) and (a["online"] or not online)]
    emit(data, as_json, lambda d: table(
        [[a["name"], a["pool"], "online" if a["online"] else "offline", a["version"],
          a["last_heartbeat_at"], ",".join(a["running_tasks"]) or "-"] for a in d["agents"]],
        ["NAME", "POOL", "STATE", "VERSION", "LAST HEARTBEAT", "TASKS"]))
