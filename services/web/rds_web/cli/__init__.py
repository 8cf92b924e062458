"""rds: build once, ship over SSH, switch atomically, roll back in seconds.

One small module per resource (``projects``, ``releases``, ``agents``,
``admin``, ``demo``), each defining one click group or command; ``COMMANDS``
below lists them. To add a resource's verbs (bans, migrations, configs,
GC), write ``rds_web/cli/<resource>.py`` with a ``click.Group`` and add it to
``COMMANDS``; ``common`` has the API client, ``--json`` and ``--wait``.

Global options: ``--url`` (``RDS_URL``), ``--token`` (``RDS_TOKEN``) and
``--database-url`` (``RDS_DATABASE_URL``, administration only); every
command takes ``--json`` for scripts. Defaults come from ``rds_settings``.
"""
import click

from rds_web.cli import admin, agents, configs, demo, migrations, projects, releases, teams
from rds_web.cli.common import Cli, setting
from rds_web.cli.common import main_options as _main_options

COMMANDS: tuple[click.Command, ...] = (
    projects.project, releases.release, agents.agents,
    admin.db, admin.user, admin.token, demo.demo, migrations.migration, configs.config,
    *teams.GROUPS,  # bans, deployment switch, lines, notifications, families
)


@click.group(help=__doc__.split("\n\n")[0],
             context_settings={"help_option_names": ["-h", "--help"]})
@_main_options
@click.pass_context
def main(ctx: click.Context, url: str, token: str, database_url: str) -> None:
    setting("url")()  # every RDS_* value is checked at start, even when flags cover these
    ctx.obj = Cli(url=url, token=token, database_url=database_url)


for _command in COMMANDS:
    main.add_command(_command)
