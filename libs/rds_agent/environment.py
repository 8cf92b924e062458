"""The environment of each script kind, from the command that runs it.

One function per command shape, each going through
``rds_core.scripts.script_env(kind=...)``: the registry refuses any variable
it does not document, so what the editor shows is what the scripts get.
The project's extra ``env`` of the command is applied last.
"""
from rds_contracts.activator import ActivateCommand
from rds_contracts.builder import BuildCommand
from rds_core.scripts import release_dir, script_env


def build_env(command: BuildCommand, kind: str, workspace: str, **extra: object) -> dict[str, str]:
    """Environment of a script run on the agent around a build (build, cron, deploy)."""
    env = script_env(command.project, command.version, command.release_line, workspace,
                     command.deploy_path, command.servers, command.task_id, command.initiator,
                     kind=kind, **extra)
    env.update(command.env)
    return env


def server_env(command: BuildCommand, kind: str, release_path: str) -> dict[str, str]:
    """Environment of a script run on a server, in ``release_path`` (post_deploy)."""
    return build_env(command, kind, release_path)


def activation_env(command: ActivateCommand) -> dict[str, dict[str, str]]:
    """Environments of the use and post-use scripts of an activation, by kind.

    ``projectDir`` is the activated release's directory on the servers;
    ``cron`` its cron config.
    """
    envs = {}
    for kind in ("use", "post_use"):
        env = script_env(command.project, command.version, command.release_line,
                         release_dir(command.deploy_path, command.version),
                         command.deploy_path, command.servers, command.task_id,
                         command.initiator, kind=kind, cron=command.cron or "")
        env.update(command.env)
        envs[kind] = env
    return envs
