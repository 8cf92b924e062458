"""``rds demo``: deploy a sample project end to end (see ``rds_web.demo``)."""
import sys

import click

from rds_web.cli.common import Cli, pass_cli


@click.command()
@click.option("--var-dir", default="var", show_default=True,
              help="Where the sample git repository is created.")
@click.option("--server", "servers", multiple=True, metavar="HOST:PORT:USER",
              help="App server to deploy to (repeatable); default: the two loopback "
                   "servers `make demo` starts.")
@pass_cli
def demo(cli: Cli, var_dir: str, servers: tuple[str, ...]) -> None:
    """Create a sample project on the app servers and deploy it end to end."""
    from rds_web.demo import APP_SERVERS, run_demo

    parsed = []
    for spec in servers:
        try:
            host, port, login = spec.rsplit(":", 2)
            parsed.append((host, int(port), login))
        except ValueError:
            raise click.BadParameter("expected HOST:PORT:USER, got %r" % spec,
                                     param_hint="--server") from None
    sys.exit(run_demo(cli.client(), var_dir, click.echo, servers=parsed or APP_SERVERS))
