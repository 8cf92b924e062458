"""``rds config ...``: a project's config files through the API.

Registered on the main CLI with one line (``main.add_command(config)``)::

    rds config list shop
    rds config show shop .env [--version 3]
    rds config set shop .env --file .env.production --comment "rotate key"
    rds config delete shop .env --comment "moved to vault"
    rds config history shop .env

``set`` reads the content from ``--file`` (``-`` for stdin), never from the
command line (it would land in the shell history and ``ps``).
"""
import json
from urllib.parse import quote

import click

from rds_web.client import ApiClient, ApiError


def _client() -> ApiClient:
    import os

    token = os.environ.get("RDS_TOKEN")
    if not token:
        raise click.ClickException("set RDS_TOKEN to an API token (rds token issue NAME)")
    return ApiClient(os.environ.get("RDS_URL", "http://127.0.0.1:8000"), token)


def _call(method: str, path: str, body=None):
    try:
        return _client().request(method, path, body)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def _path(project: str, filename: str) -> str:
    return "/projects/%s/configs/%s" % (quote(project, safe=""), quote(filename, safe="/"))


@click.group()
def config():
    """Local config files of a project (API)."""


@config.command("list")
@click.argument("project")
def config_list(project):
    """List a project's config files and its config revision."""
    data = _call("GET", "/projects/%s/configs" % quote(project, safe=""))
    click.echo("revision %d" % data["revision"])
    for f in data["files"]:
        click.echo("%s\tversion %d\t%s" % (f["name"], f["version"], f["updated_at"]))


@config.command("show")
@click.argument("project")
@click.argument("filename")
@click.option("--version", type=int, help="an older version")
def config_show(project, filename, version):
    """Print a config file's content (admin and deployer only)."""
    path = _path(project, filename) + ("/versions/%d" % version if version else "")
    data = _call("GET", path)
    if data["content_hidden"]:
        raise click.ClickException("your role may not read config contents")
    click.echo(data["content"], nl=False)


@config.command("history")
@click.argument("project")
@click.argument("filename")
def config_history(project, filename):
    """Versions of a config file: who, when, why, and where the upload got."""
    for v in _call("GET", _path(project, filename))["versions"]:
        click.echo("%d\trevision %d\t%s\t%s\t%s\t%s" % (
            v["version"], v["revision"], v["created_at"], v["author"] or "-",
            v["upload_state"] or "-", v["comment"]))


@config.command("set")
@click.argument("project")
@click.argument("filename")
@click.option("--file", "source", type=click.File("r"), required=True,
              help="read the content from this file ('-': stdin)")
@click.option("--comment", default="", help="who asked for it, why")
def config_set(project, filename, source, comment):
    """Save a new version of a config file and push it to every server."""
    data = _call("PUT", _path(project, filename), {"content": source.read(),
                                                   "comment": comment})
    data.pop("content", None)
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@config.command("delete")
@click.argument("project")
@click.argument("filename")
@click.option("--comment", default="")
def config_delete(project, filename, comment):
    """Delete a config file (its history stays) and push the change."""
    data = _call("DELETE", _path(project, filename), {"comment": comment})
    click.echo("deleted %s (revision %d)" % (data["file"], data["revision"]))
