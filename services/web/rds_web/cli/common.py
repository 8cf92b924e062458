"""What every ``rds`` verb shares: the API client, ``--json`` output, waiting, errors."""
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import click
import requests

from rds_settings import get_settings
from rds_settings.settings import SettingsError
from rds_web.client import ApiClient, ApiError

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def setting(field: str) -> Callable[[], Any]:
    """A click default read from the settings object (a bad RDS_* value: one-line error)."""
    def read() -> Any:
        try:
            return getattr(get_settings(), field)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    return read


def main_options(fn: F) -> F:
    fn = click.option("--database-url", envvar="RDS_DATABASE_URL", show_envvar=True,
                      default=setting("database_url"),
                      help="rds's database (db, user and token commands).")(fn)
    fn = click.option("--token", envvar="RDS_TOKEN", show_envvar=True,
                      default=setting("token"), help="API token (rds token issue NAME).")(fn)
    fn = click.option("--url", envvar="RDS_URL", show_envvar=True,
                      default=setting("url"), help="Where the rds web runs.")(fn)
    return fn


@dataclass
class Cli:
    url: str
    token: str
    database_url: str
    _client: ApiClient | None = field(default=None, repr=False)

    def client(self) -> ApiClient:
        if not self.token:
            raise click.ClickException(
                "no API token: pass --token or set RDS_TOKEN (rds token issue NAME)")
        if self._client is None:
            self._client = ApiClient(self.url, self.token)
        return self._client


pass_cli = click.make_pass_decorator(Cli)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the API's JSON (for scripts).")(fn)


def wait_option(what: str) -> Callable[[F], F]:
    return click.option("--wait/--no-wait", default=False, show_default=True,
                        help="Wait until %s (fail if it fails)." % what)


def api(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn API errors into a one-line message and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            raise click.ClickException(str(exc)) from None
        except requests.RequestException as exc:
            url = exc.request.url if exc.request is not None else "the API"
            raise click.ClickException("cannot reach %s: %s" % (
                url, type(exc).__name__)) from None
    return wrapper


def emit(data: Any, as_json: bool, human: Callable[[Any], Iterable[str]]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        for line in human(data):
            click.echo(line)


def table(rows: list[list[Any]], headers: list[str]) -> list[str]:
    cells = [headers] + [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
            for row in cells]
