"""The activator's config push: one project revision onto every server.

One call of :func:`run_config_push` is one run of a ``push_config`` task::

    task_started
    step upload   built-in atomic upload (``rds_ssh.configs``), or the
                  project's ``config_upload`` script with ``$configDir``
    config_pushed | config_push_failed(reason, servers)

The task log gets server names, file names and sizes, never contents. The
staging directory of a ``config_upload`` script (mode 0700, files 0640) is
removed whatever happens.
"""
import logging
import os
import shutil

from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskCancelled, TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_contracts.base import ServerResult
from rds_contracts.configs import (
    ConfigInspected,
    ConfigPushed,
    ConfigPushFailed,
    InspectConfigCommand,
    PushConfigCommand,
)
from rds_core import shared
from rds_core.scripts import script_env

log = logging.getLogger(__name__)


def stage_files(files: dict[str, str], directory: str) -> None:
    """Write ``files`` under ``directory`` (the layout of ``shared/config/``)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name, content in files.items():
        path = os.path.join(directory, *shared.check_config_name(name).split("/"))
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8"))


def _failure(results: list[ServerResult]) -> str:
    failed = [r for r in results if not r.ok]
    return "config upload failed on %d of %d server(s): %s" % (
        len(failed), len(results), "; ".join(r.error or "failed" for r in failed))


def run_config_push(command: PushConfigCommand, reporter: TaskReporter,
                    settings: AgentSettings, task_files: TaskFiles,
                    redelivered: bool = False) -> None:
    """Run one config push task to its terminal event."""
    from rds_ssh.configs import push_config

    task_id = command.task_id
    files = {f.name: f.content for f in command.files}
    scratch = settings.path("configs", task_id)
    task_files.register(task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                reporter.line("Config revision %d: %s" % (command.revision, ", ".join(
                    "%s (%d bytes)" % (name, len(content.encode()))
                    for name, content in sorted(files.items())) or "no files"))
                with reporter.step("upload"):
                    if command.upload_script:
                        results = _run_upload_script(command, command.upload_script, files,
                                                     scratch, reporter, settings, task_files)
                    else:
                        pushes = push_config(command.servers, command.deploy_path,
                                             command.revision, files, settings.ssh(),
                                             concurrency=command.concurrency,
                                             log=reporter.line)
                        results = [ServerResult(server_id=p.server.id, ok=p.ok,
                                                error=p.error and "%s: %s" % (
                                                    p.server.label, p.error))
                                   for p in pushes]
                if all(r.ok for r in results):
                    reporter.event(ConfigPushed, servers=results)
                else:
                    reason = _failure(results)
                    reporter.line("FAILED: %s" % reason)
                    reporter.event(ConfigPushFailed, reason=reason[-8000:], servers=results)
            except TaskCancelled:
                reporter.event(ConfigPushFailed, reason="cancelled on request")
            except Exception as exc:
                log.exception("config push %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %s" % type(exc).__name__)
                reporter.event(ConfigPushFailed, reason="internal error: %s" % (
                    type(exc).__name__,))
    finally:
        task_files.unregister(task_id)
        shutil.rmtree(scratch, ignore_errors=True)


def _run_upload_script(command: PushConfigCommand, script: str, files: dict[str, str],
                       scratch: str, reporter: TaskReporter, settings: AgentSettings,
                       task_files: TaskFiles) -> list[ServerResult]:
    config_dir = os.path.join(scratch, shared.CONFIG_DIR)
    stage_files(files, config_dir)
    env = script_env(command.project, "", None, scratch, command.deploy_path,
                     command.servers, command.task_id, command.initiator,
                     kind="config_upload", configDir=config_dir)
    env.update(command.env)
    reporter.line("$ config_upload script")
    try:
        run_task_script("config_upload", script, env, scratch, reporter.log, settings,
                        task_files, command.task_id)
    except ScriptFailed as exc:
        error = "%s\n--- last output ---\n%s" % (exc.message, reporter.tail())
        return [ServerResult(server_id=s.id, ok=False, error=error[-4000:])
                for s in command.servers]
    return [ServerResult(server_id=s.id, ok=True) for s in command.servers]


def run_config_inspect(command: InspectConfigCommand, reporter: TaskReporter,
                       settings: AgentSettings, task_files: TaskFiles,
                       redelivered: bool = False) -> None:
    """Read back what every server holds (SHA-256s, never contents)."""
    from rds_ssh.configs import inspect_config

    task_files.register(command.task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                with reporter.step("check"):
                    states = inspect_config(command.servers, command.deploy_path,
                                            command.names, settings.ssh(),
                                            concurrency=command.concurrency, log=reporter.line)
                reporter.event(ConfigInspected, servers=[
                    dict(server_id=s.server.id, ok=s.ok, revision=s.revision,
                         files=s.files or {}, error=s.error and s.error[-4000:])
                    for s in states])
            except Exception as exc:
                log.exception("config check %s crashed", command.task_id)
                reporter.event(ConfigInspected, error="internal error: %s" % (
                    type(exc).__name__,))
    finally:
        task_files.unregister(command.task_id)
