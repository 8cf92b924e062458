"""The scripts a project can define, and the environment each one receives.

Every script gets the common variables; some get more. The agents build the
environment with :func:`script_env`; the UI shows :data:`SCRIPTS` next to
each editor, so the documentation and the behaviour cannot drift apart.
"""
from dataclasses import dataclass

COMMON_ENV = {
    "projectName": "project name, e.g. shop",
    "project": "same as projectName (kept for scripts written for RDS)",
    "version": "the version being built, activated or removed, e.g. 1.00.004.7",
    "release": "the release line, e.g. 1",
    "projectDir": "the build directory on the agent (the checked-out tree)",
    "deployPath": "the deploy path on the servers",
    "servers": "space-separated server host names",
    "serverTargets": "space-separated user@host:port of every server",
    "taskId": "id of the task running the script",
    "initiatorUserName": "who started the action",
}


@dataclass(frozen=True)
class ScriptKind:
    kind: str
    title: str
    runs: str
    required: bool = False
    extra_env: tuple = ()


SCRIPTS = {s.kind: s for s in (
    ScriptKind("build", "Build", "on the agent, in projectDir, after checkout; its "
               "output tree is what gets uploaded", required=True),
    ScriptKind("cron", "Cron", "on the agent after the build; prints the cron config "
               "of the version", extra_env=("cron",)),
    ScriptKind("migrations", "Migrations list", "on the agent after the build, in projectDir, "
               "once with type=pre and once with type=post; prints one migration name per "
               "line (letters, digits, _ . -); anything else fails the build",
               extra_env=("type", "command")),
    ScriptKind("migration", "Migration up/down", "over SSH on the project's migration host "
               "(default: its first server), in <deployPath>/releases/<version> (projectDir), "
               "once per migration; non-zero exit = failed",
               extra_env=("type", "command", "migrationName")),
    ScriptKind("post_deploy", "Post-deploy", "on the agent after the upload to every server"),
    ScriptKind("use", "Use (custom activation)", "on the agent instead of the built-in "
               "atomic symlink switch"),
    ScriptKind("post_use", "Post-use", "on the agent after the switch; a failure switches "
               "the servers back", extra_env=("cron",)),
    ScriptKind("remove", "Remove", "on the agent instead of the built-in removal of "
               "releases/<version>"),
    ScriptKind("config_upload", "Config upload", "on the agent to push local config files",
               extra_env=("configDir",)),
)}

EXTRA_ENV = {
    "cron": "the cron config printed by the cron script at build time",
    "type": "migration type: pre or post",
    "command": "migrations list: 'new all'; migration: 'up' or 'down'",
    "migrationName": "the migration to run",
    "configDir": "directory on the agent holding the project's config files",
}


def script_env(project, version, release_line, project_dir, deploy_path, servers, task_id,
               initiator, **extra):
    """The documented environment of a script (values are strings)."""
    env = {
        "projectName": project, "project": project, "version": version,
        "release": str(release_line), "projectDir": project_dir or "",
        "deployPath": deploy_path, "servers": " ".join(s.host for s in servers),
        "serverTargets": " ".join("%s@%s:%d" % (s.user, s.host, s.port) for s in servers),
        "taskId": task_id, "initiatorUserName": initiator,
    }
    for key, value in extra.items():
        env[key] = "" if value is None else str(value)
    return env
