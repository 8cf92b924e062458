"""The gc agent's jobs on the servers: remove a release, inspect the servers.

One call of :func:`run_removal` is one run of a removal task::

    task_started
    step remove     built-in removal on every server (``rds_ssh.remove``), or
                    the project's ``remove`` script once every server confirmed
                    that ``current`` does not point at the release
    removal_finished(servers)            every server confirmed it is gone
    removal_failed(reason, servers)      some server did not (it keeps it)

One call of :func:`run_inspection` is one run of an inspection task::

    task_started
    step inspect    read current and releases/ of every server; sweep old
                    staging directories
    servers_inspected(servers) | inspection_failed(reason)

Never touches a database: everything comes in the command, everything goes
back as events; the control plane decides what it means.
"""
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskCancelled, TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_contracts.gc import (
    InspectionFailed,
    InspectServersCommand,
    RemovalFailed,
    RemovalFinished,
    RemoveReleaseCommand,
    ServerInventory,
    ServerRemoval,
    ServersInspected,
)
from rds_core.scripts import script_env

if TYPE_CHECKING:
    from rds_ssh import remove

log = logging.getLogger(__name__)


def _wire(result: "remove.ServerRemoval") -> ServerRemoval:
    return ServerRemoval(server_id=result.server.id, ok=result.ok, removed=result.removed,
                         current=result.current, drift=result.drift,
                         error=(result.error or None) and result.error[-8000:])


def _failure(results: Sequence["remove.ServerRemoval"]) -> str:
    failed = [r for r in results if not r.ok]
    return "not removed from %d of %d server(s): %s" % (
        len(failed), len(results),
        "; ".join("%s: %s" % (r.server.label, r.error) for r in failed))[-8000:]


def run_removal(command: RemoveReleaseCommand, reporter: TaskReporter, settings: AgentSettings,
                task_files: TaskFiles, redelivered: bool = False) -> None:
    """Run one removal task to its terminal event."""
    from rds_ssh import remove
    from rds_ssh.errors import SshError

    task_id = command.task_id
    task_files.register(task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                with reporter.step("remove"):
                    if command.remove_script:
                        results = remove.check_not_live(
                            command.servers, command.deploy_path, command.version,
                            settings.ssh(), concurrency=command.concurrency)
                        if all(r.ok for r in results):
                            _remove_script(command, command.remove_script, reporter,
                                           settings, task_files)
                            for result in results:
                                result.removed = True
                        else:  # the script acts on every server: run it on none
                            for result in results:
                                if result.ok:
                                    result.ok = False
                                    result.error = ("the remove script did not run: another "
                                                    "server failed the check")
                    else:
                        results = remove.remove_release(
                            command.servers, command.deploy_path, command.version,
                            settings.ssh(), concurrency=command.concurrency, log=reporter.line)
                servers = [_wire(r) for r in results]
                if all(r.ok for r in results):
                    reporter.event(RemovalFinished, servers=servers)
                else:
                    reason = _failure(results)
                    reporter.line("NOT REMOVED: %s" % reason)
                    reporter.event(RemovalFailed, reason=reason, servers=servers)
            except ScriptFailed as exc:
                reporter.event(RemovalFailed, reason="remove script failed: %s" % exc.message,
                               servers=[ServerRemoval(server_id=s.id, ok=False,
                                                      error="the remove script failed")
                                        for s in command.servers])
            except TaskCancelled:
                reporter.event(RemovalFailed, reason="cancelled")
            except SshError as exc:
                reporter.event(RemovalFailed, reason=str(exc)[-8000:])
            except Exception as exc:
                log.exception("removal task %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %r" % (exc,))
                reporter.event(RemovalFailed, reason="internal error: %r" % (exc,))
    finally:
        task_files.unregister(task_id)


def _remove_script(command: RemoveReleaseCommand, script: str, reporter: TaskReporter,
                   settings: AgentSettings, task_files: TaskFiles) -> None:
    env = script_env(command.project, command.version, "", "", command.deploy_path,
                     command.servers, command.task_id, command.initiator)
    env.update(command.env)
    reporter.line("$ remove script")
    run_task_script("remove", script, env, settings.work_dir, reporter.log, settings,
                    task_files, command.task_id)


def run_inspection(command: InspectServersCommand, reporter: TaskReporter,
                   settings: AgentSettings, now: float | None = None) -> None:
    """Run one inspection task to its terminal event."""
    from rds_ssh import remove

    with reporter:
        reporter.started()
        try:
            with reporter.step("inspect"):
                inventories = remove.inspect(
                    command.servers, command.deploy_path, settings.ssh(),
                    sweep_older_than=command.sweep_staging_older_than, now=now,
                    concurrency=command.concurrency, log=reporter.line)
            reporter.event(ServersInspected, servers=[ServerInventory(
                server_id=i.server.id, ok=i.ok, error=i.error and i.error[-8000:],
                current=i.current, releases=i.releases, unknown=i.unknown,
                staging=i.staging, swept=i.swept) for i in inventories])
        except Exception as exc:
            log.exception("inspection task %s crashed", command.task_id)
            reporter.line("INTERNAL ERROR: %r" % (exc,))
            reporter.event(InspectionFailed, reason="internal error: %r" % (exc,))
