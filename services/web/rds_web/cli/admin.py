"""Administration: ``rds db``, ``rds user``, ``rds token`` (talk to the database directly)."""
from collections.abc import Callable
from typing import Any

import click

from rds_web.cli.common import Cli, pass_cli


def _in_transaction(cli: Cli, fn: Callable[[Any], Any]) -> Any:
    from rds_control.errors import ControlError
    from rds_db.session import make_engine, make_session_factory, transaction

    engine = make_engine(cli.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return fn(session)
    except ControlError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()


@click.group()
def db() -> None:
    """rds's own database: schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_cli
def db_upgrade(cli: Cli, revision: str) -> None:
    """Apply the schema migrations (never done by a service at start-up)."""
    from rds_db.migrate import current_revision, upgrade

    before = current_revision(cli.database_url)
    upgrade(cli.database_url, revision)
    after = current_revision(cli.database_url)
    if before == after:
        click.echo("database already at %s" % (after or "(empty)"))
    else:
        click.echo("database upgraded from %s to %s" % (before or "(empty)", after))


@db.command("current")
@pass_cli
def db_current(cli: Cli) -> None:
    """Print the applied schema revision."""
    from rds_db.migrate import current_revision

    click.echo(current_revision(cli.database_url) or "(empty database)")


@click.group()
def user() -> None:
    """Users and their roles."""


@user.command("create-admin")
@click.argument("username")
@click.option("--password", help="Also allow logging in to the web UI with this password.")
@click.option("--token-name", default="cli", show_default=True)
@pass_cli
def user_create_admin(cli: Cli, username: str, password: str | None, token_name: str) -> None:
    """Create an admin user and print an API token for it (shown once)."""
    from rds_control import users

    def create(session: Any) -> str:
        admin = users.create_user(session, username, "admin", password=password)
        token, _ = users.issue_token(session, admin, token_name)
        return token
    click.echo(_in_transaction(cli, create))


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "deployer", "viewer"]), default="viewer",
              show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email")
@pass_cli
def user_add(cli: Cli, username: str, role: str, password: str, email: str | None) -> None:
    """Create a user who logs in to the web UI with a password."""
    from rds_control import users

    _in_transaction(cli, lambda s: users.create_user(s, username, role, password=password,
                                                     email=email))
    click.echo("created %s (%s)" % (username, role))


@click.group()
def token() -> None:
    """API tokens."""


@token.command("issue")
@click.argument("username")
@click.option("--name", default="cli", show_default=True)
@pass_cli
def token_issue(cli: Cli, username: str, name: str) -> None:
    """Print a new API token for USERNAME (shown once)."""
    from rds_control import users

    click.echo(_in_transaction(cli, lambda s: users.issue_token(
        s, users.get_user(s, username), name)[0]))
