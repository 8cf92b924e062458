"""The scripts a project can define: when each runs, where, and its environment.

This registry is the single source of both the behaviour and its help text:

* the agents build every script's environment with :func:`script_env`,
  passing the script's ``kind``; a variable not declared for that kind is
  refused, and every declared one is always set (empty if unknown);
* the script editor renders :data:`SCRIPTS` (when, where, working directory,
  the variables and what they mean) next to each editor.

A kind that rds does not run yet has ``active=False``: the editor says so
instead of promising behaviour. The engineer who makes rds run it flips the
flag here (and nowhere else).
"""
import enum
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

COMMON_ENV = {
    "projectName": "project name, e.g. shop",
    "project": "same as projectName (kept for scripts written for RDS)",
    "version": "the version being built, activated or removed, e.g. 1.00.004.7",
    "release": "the release line, e.g. 1",
    "projectDir": "the script's working directory (see 'Runs in' above)",
    "deployPath": "the deploy path on the servers (relative paths: from the login's home)",
    "servers": "space-separated server host names",
    "serverTargets": "space-separated user@host:port of every server",
    "taskId": "id of the task running the script",
    "initiatorUserName": "who started the action",
}

EXTRA_ENV = {
    "cron": "the cron config the cron script printed when this version was built",
    "type": "migration type: pre or post",
    "command": "migrations list: 'new all'; migration: 'up' or 'down'",
    "migrationName": "the migration to run",
    "configDir": "directory on the agent holding every config file of the project "
                 "(its layout is the layout of <deployPath>/shared/config/)",
    "releaseDir": "the release directory on the servers: <deployPath>/releases/<version>",
}


class Where(enum.StrEnum):
    AGENT = "agent"     # a process on the agent host
    SERVER = "server"   # over SSH, on every application server of the project


@dataclass(frozen=True)
class ScriptKind:
    kind: str
    title: str
    #: When it runs (and what its exit status or output means).
    runs: str
    where: Where
    #: What ``projectDir`` (and the working directory) is for this kind.
    project_dir: str
    required: bool = False
    extra_env: tuple[str, ...] = ()
    #: False: rds does not run this kind yet, and the editor says so.
    active: bool = True

    @property
    def env(self) -> dict[str, str]:
        """Every variable this kind receives, with its meaning."""
        env = dict(COMMON_ENV)
        env.update((name, EXTRA_ENV[name]) for name in self.extra_env)
        return env


_CHECKOUT = "the fresh checkout of the ref on the agent (the tree that gets uploaded)"
_NO_TREE = ("empty; the script runs in the agent's work directory (rds builds once and keeps "
            "no checkout)")
_RELEASE = "the release directory on each server: <deployPath>/releases/<version>"
_ACTIVATED = ("the release directory on the servers, <deployPath>/releases/<version> (the "
              "script itself runs in the agent's work directory)")

SCRIPTS = {s.kind: s for s in (
    ScriptKind("build", "Build", "after the checkout; what it leaves in projectDir is "
               "uploaded. A non-zero exit fails the build", Where.AGENT, _CHECKOUT,
               required=True),
    ScriptKind("cron", "Cron", "right after the build script; its output is the cron config "
               "of this version, installed into each server's crontab when the version goes "
               "live (rollback installs the older version's)", Where.AGENT, _CHECKOUT),
    ScriptKind("migrations", "Migrations list", "after the build, once with type=pre and once "
               "with type=post; prints one migration name per line (letters, digits, _ . -); "
               "anything else fails the build", Where.AGENT, _CHECKOUT,
               extra_env=("type", "command")),
    ScriptKind("migration", "Migration up/down", "once per migration, when a person runs it "
               "(pre: before the release may go live; post: after its stabilisation delay), "
               "over SSH on the project's migration host (default: its first server) under "
               "setsid; a non-zero exit marks the migration failed", Where.SERVER, _RELEASE,
               extra_env=("type", "command", "migrationName")),
    ScriptKind("deploy", "Deploy (custom upload)", "after the build, instead of rds's "
               "built-in verified upload; it must put the tree of projectDir on every server "
               "(at releaseDir if the built-in activation is used). A non-zero exit fails the "
               "install", Where.AGENT, _CHECKOUT, extra_env=("releaseDir",)),
    ScriptKind("post_deploy", "Post-deploy", "on every server after the upload, before that "
               "server counts as ready; a non-zero exit fails the install with its output",
               Where.SERVER, _RELEASE),
    ScriptKind("use", "Use (custom activation)", "instead of the built-in atomic switch of "
               "current; a non-zero exit fails the activation", Where.AGENT, _ACTIVATED,
               extra_env=("cron",)),
    ScriptKind("post_use", "Post-use", "after the switch (and after the cron install); a "
               "non-zero exit switches every server back", Where.AGENT, _ACTIVATED,
               extra_env=("cron",)),
    ScriptKind("remove", "Remove", "when retention lets a release go, instead of the built-in "
               "removal of releases/<version> (after every server confirmed current does not "
               "point at it); a non-zero exit fails the removal", Where.AGENT, _NO_TREE),
    ScriptKind("config_upload", "Config upload", "when a config file version is saved, "
               "instead of the built-in atomic upload into <deployPath>/shared/config/; a "
               "non-zero exit marks the upload failed", Where.AGENT, _NO_TREE,
               extra_env=("configDir",)),
)}


class ServerLike(Protocol):
    """Where to log in to a server (``ServerSpec``, a database ``Server``, the SSH layer's)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def user(self) -> str: ...


def release_dir(deploy_path: str, version: str) -> str:
    return posixpath.join(deploy_path, "releases", version)


def script_env(project: str, version: str, release_line: int | str | None,
               project_dir: str | None, deploy_path: str, servers: Iterable[ServerLike],
               task_id: str, initiator: str, kind: str | None = None,
               **extra: object) -> dict[str, str]:
    """The documented environment of a script (values are strings).

    With ``kind``, ``extra`` may only name that kind's declared variables,
    and every declared one is set (empty when not given).
    """
    servers = list(servers)
    env = {
        "projectName": project, "project": project, "version": version,
        "release": "" if release_line is None else str(release_line),
        "projectDir": project_dir or "",
        "deployPath": deploy_path, "servers": " ".join(s.host for s in servers),
        "serverTargets": " ".join("%s@%s:%d" % (s.user, s.host, s.port) for s in servers),
        "taskId": task_id, "initiatorUserName": initiator,
    }
    if kind is not None:
        declared = SCRIPTS[kind].extra_env
        undeclared = sorted(set(extra) - set(declared))
        if undeclared:
            raise ValueError("the %s script does not document %s" % (kind, ", ".join(undeclared)))
        for name in declared:
            extra.setdefault(name, "")
    for key, value in extra.items():
        env[key] = "" if value is None else str(value)
    return env
