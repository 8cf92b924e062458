"""The ``rds`` command line.

Administration (talks to the database directly, like any operator tool):

    rds db upgrade                      apply rds's schema migrations
    rds db current                      print the applied revision
    rds user create-admin NAME          create an admin; print an API token
    rds user add NAME --role deployer   create a user (password prompted or --password)
    rds token issue NAME                print a new API token for a user

API verbs for CI (``RDS_URL`` and ``RDS_TOKEN`` from the environment or flags):

    rds project create FILE.json        create a project from JSON
    rds release create PROJECT [--ref R] [--comment C] [--wait]
    rds release show ID [--log]
    rds release activate ID [--wait]
    rds release wait ID STATUS...       wait until the release reaches a status
    rds project revert PROJECT [--wait]

    rds demo                            deploy a sample project end to end
"""
import json
import os
import sys

import click

from rds_web import cli_configs
from rds_web.client import ApiClient, ApiError


def _database_url():
    return os.environ.get("RDS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/rds")


@click.group(help=__doc__.split("\n\n")[0])
def main():
    pass


# -- administration --------------------------------------------------------

@main.group()
def db():
    """rds's own database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply the schema migrations (never done by a service at start-up)."""
    from rds_db.migrate import upgrade

    upgrade(_database_url(), revision)
    click.echo("database is at %s" % revision)


@db.command("current")
def db_current():
    """Print the applied schema revision."""
    from rds_db.migrate import current_revision

    click.echo(current_revision(_database_url()) or "(empty database)")


def _in_transaction(fn):
    from rds_control.errors import ControlError
    from rds_db.session import make_engine, make_session_factory, transaction

    engine = make_engine(_database_url())
    try:
        with transaction(make_session_factory(engine)) as session:
            return fn(session)
    except ControlError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()


@main.group()
def user():
    """Users and their roles."""


@user.command("create-admin")
@click.argument("username")
@click.option("--password", help="Also allow logging in to the web UI with this password.")
@click.option("--token-name", default="cli", show_default=True)
def user_create_admin(username, password, token_name):
    """Create an admin user and print an API token for it (shown once)."""
    from rds_control import users

    def create(session):
        admin = users.create_user(session, username, "admin", password=password)
        token, _ = users.issue_token(session, admin, token_name)
        return token
    click.echo(_in_transaction(create))


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "deployer", "viewer"]), default="viewer",
              show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email")
def user_add(username, role, password, email):
    """Create a user who logs in to the web UI with a password."""
    from rds_control import users

    _in_transaction(lambda s: users.create_user(s, username, role, password=password,
                                                email=email))
    click.echo("created %s (%s)" % (username, role))


@main.group()
def token():
    """API tokens."""


@token.command("issue")
@click.argument("username")
@click.option("--name", default="cli", show_default=True)
def token_issue(username, name):
    """Print a new API token for USERNAME (shown once)."""
    from rds_control import users

    click.echo(_in_transaction(lambda s: users.issue_token(s, users.get_user(s, username),
                                                           name)[0]))


# -- API verbs --------------------------------------------------------------

def _client(ctx):
    url = os.environ.get("RDS_URL", "http://127.0.0.1:8000")
    token_text = os.environ.get("RDS_TOKEN")
    if not token_text:
        raise click.ClickException("set RDS_TOKEN to an API token (rds token issue NAME)")
    return ApiClient(url, token_text)


def _print(data):
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _api(fn):
    try:
        return fn()
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def project():
    """Projects (API)."""


@project.command("create")
@click.argument("spec", type=click.File())
@click.pass_context
def project_create(ctx, spec):
    """Create a project from a JSON file (see README for the fields)."""
    _print(_api(lambda: _client(ctx).post("/projects", json.load(spec))))


@project.command("revert")
@click.argument("name")
@click.option("--wait/--no-wait", default=False)
@click.pass_context
def project_revert(ctx, name, wait):
    """Activate the version that was live before the current one."""
    client = _client(ctx)
    release = _api(lambda: client.post("/projects/%s/revert" % name))
    if wait:
        release = _api(lambda: client.wait_release(release["id"], {"used"}))
    _print(release)


@main.group()
def release():
    """Releases (API)."""


@release.command("create")
@click.argument("project_name")
@click.option("--ref")
@click.option("--comment", default="")
@click.option("--wait/--no-wait", default=False, help="Wait until installed (or failed).")
@click.pass_context
def release_create(ctx, project_name, ref, comment, wait):
    """Build the next version of a project."""
    client = _client(ctx)
    body = {"comment": comment}
    if ref:
        body["ref"] = ref
    data = _api(lambda: client.post("/projects/%s/releases" % project_name, body))
    if wait:
        data = _api(lambda: client.wait_release(data["id"], {"installed"}))
    _print(data)


@release.command("show")
@click.argument("release_id", type=int)
@click.option("--log", is_flag=True)
@click.pass_context
def release_show(ctx, release_id, log):
    """Show a release with its builds."""
    _print(_api(lambda: _client(ctx).get("/releases/%d%s" % (release_id,
                                                            "?log=1" if log else ""))))


@release.command("activate")
@click.argument("release_id", type=int)
@click.option("--wait/--no-wait", default=False)
@click.pass_context
def release_activate(ctx, release_id, wait):
    """Switch a release live (an older one: rollback)."""
    client = _client(ctx)
    data = _api(lambda: client.post("/releases/%d/activate" % release_id))
    if wait:
        data = _api(lambda: client.wait_release(release_id, {"used"}))
    _print(data)


@release.command("wait")
@click.argument("release_id", type=int)
@click.argument("statuses", nargs=-1, required=True)
@click.option("--timeout", default=900.0, show_default=True)
@click.pass_context
def release_wait(ctx, release_id, statuses, timeout):
    """Wait until a release reaches one of STATUSES (fails fast on failed/cancelled)."""
    _print(_api(lambda: _client(ctx).wait_release(release_id, set(statuses), timeout)))


@main.command()
@click.option("--var-dir", default="var", show_default=True,
              help="Where the sample git repository is created.")
@click.option("--server", "servers", multiple=True, metavar="HOST:PORT:USER",
              help="App server to deploy to (repeatable); default: the two loopback "
                   "servers `make demo` starts.")
@click.pass_context
def demo(ctx, var_dir, servers):
    """Create a sample project on the local app servers and deploy it end to end."""
    from rds_web.demo import APP_SERVERS, run_demo

    parsed = []
    for spec in servers:
        try:
            host, port, login = spec.rsplit(":", 2)
            parsed.append((host, int(port), login))
        except ValueError:
            raise click.BadParameter("expected HOST:PORT:USER, got %r" % spec) from None
    sys.exit(run_demo(_client(ctx), var_dir, click.echo, servers=parsed or APP_SERVERS))


main.add_command(cli_configs.config)

if __name__ == "__main__":
    main()
