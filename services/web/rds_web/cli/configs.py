"""``rds config``: a project's local config files through the API.

``set`` reads the content from ``--file`` (``-`` for stdin), never from the
command line, where it would land in the shell history and ``ps``.
"""
from typing import IO
from urllib.parse import quote

import click

from rds_web.cli.common import Cli, api, emit, json_option, pass_cli, table


def _path(project: str, filename: str) -> str:
    return "/projects/%s/configs/%s" % (quote(project, safe=""), quote(filename, safe="/"))


@click.group()
def config() -> None:
    """Local config files of a project (.env, config/local.yml, ...)."""


@config.command("list")
@click.argument("project")
@json_option
@pass_cli
@api
def config_list(cli: Cli, project: str, as_json: bool) -> None:
    """A project's config files and its current config revision."""
    data = cli.client().get("/projects/%s/configs" % quote(project, safe=""))
    emit(data, as_json, lambda d: ["revision %d" % d["revision"]] + table(
        [[f["name"], f["version"], f["updated_at"]] for f in d["files"]],
        ["FILE", "VERSION", "UPDATED"]))


@config.command("show")
@click.argument("project")
@click.argument("filename")
@click.option("--version", type=click.IntRange(min=1), help="An older version.")
@pass_cli
@api
def config_show(cli: Cli, project: str, filename: str, version: int | None) -> None:
    """Print a config file's content (admin and deployer only)."""
    path = _path(project, filename) + ("/versions/%d" % version if version else "")
    data = cli.client().get(path)
    if data["content_hidden"]:
        raise click.ClickException("your role may not read config contents")
    click.echo(data["content"], nl=False)


@config.command("history")
@click.argument("project")
@click.argument("filename")
@json_option
@pass_cli
@api
def config_history(cli: Cli, project: str, filename: str, as_json: bool) -> None:
    """Versions of a config file: who, when, why, and where the upload got."""
    data = cli.client().get(_path(project, filename))
    for version in data["versions"]:
        version.pop("content", None)
    data.pop("content", None)
    emit(data, as_json, lambda d: table(
        [[v["version"], v["revision"], v["created_at"], v["author"], v["upload_state"],
          v["comment"]] for v in d["versions"]],
        ["VERSION", "REVISION", "SAVED", "BY", "UPLOAD", "COMMENT"]))


@config.command("set")
@click.argument("project")
@click.argument("filename")
@click.option("--file", "source", type=click.File("r"), required=True,
              help="Read the content from this file ('-': stdin).")
@click.option("--comment", default="", help="Who asked for it, and why.")
@json_option
@pass_cli
@api
def config_set(cli: Cli, project: str, filename: str, source: IO[str], comment: str,
               as_json: bool) -> None:
    """Save a new version of a config file and push it to every server."""
    data = cli.client().request("PUT", _path(project, filename),
                                {"content": source.read(), "comment": comment})
    data.pop("content", None)
    emit(data, as_json, lambda d: ["saved %s version %d (revision %d); upload %s" % (
        d["file"], d["version"], d["revision"], d["upload_state"])])


@config.command("delete")
@click.argument("project")
@click.argument("filename")
@click.option("--comment", default="", help="Why.")
@json_option
@pass_cli
@api
def config_delete(cli: Cli, project: str, filename: str, comment: str, as_json: bool) -> None:
    """Delete a config file (its history stays) and push the change."""
    data = cli.client().request("DELETE", _path(project, filename), {"comment": comment})
    data.pop("content", None)
    emit(data, as_json, lambda d: ["deleted %s (revision %d)" % (d["file"], d["revision"])])
