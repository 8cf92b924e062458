"""The agent side of project migrations: list them at build time, run one.

:func:`list_migrations` runs the project's ``migrations`` script in the built
tree once per type (``type=pre``, then ``type=post``; ``command='new all'``
for scripts written for RDS) and validates what it printed
(``rds_core.migrations.parse_listing``): a bad line fails the build quoting it.

:func:`run_migration` is one run of a migrate task::

    task_started
    step migrate   the project's ``migration`` script, in
                   <deploy_path>/releases/<version> on the migration host,
                   under ``setsid`` (``rds_ssh.remote``); output streamed
    migration_finished | migration_failed(reason, exit_status) | migration_cancelled

The ``migrate`` step is fenced (``rds_contracts.pruner.FENCED_STEPS``): the run
claims its task right before the script starts, so a stale or duplicated
command never runs a migration. Cancel works as for builds: the killer leaves
a tombstone in ``RUN_DIR``; the migrator sees it while streaming and kills the
remote process group over SSH.
"""
import logging
import posixpath
from collections.abc import Callable, Mapping

from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_bus.entrypoints import CommandDropped
from rds_contracts.migrator import (
    MigrateCommand,
    MigrationCancelled,
    MigrationFailed,
    MigrationFinished,
    MigrationListing,
)
from rds_core.migrations import BadListing, MigrationType, parse_listing
from rds_core.scripts import script_env

log = logging.getLogger(__name__)

LIST_COMMAND = "new all"


def list_migrations(script: str, env: Mapping[str, str], workspace: str,
                    line: Callable[[str], None], settings: AgentSettings,
                    task_files: TaskFiles,
                    task_id: str) -> MigrationListing:
    """Run the listing script for each type; raise BadListing or ScriptFailed."""
    listed: dict[str, list[str]] = {}
    for kind in MigrationType:
        printed: list[str] = []
        try:
            run_task_script("migrations", script,
                            {**env, "type": kind.value, "command": LIST_COMMAND}, workspace,
                            printed.append, settings, task_files, task_id)
        except ScriptFailed as exc:
            tail = "\n".join("".join(printed).splitlines()[-20:])
            raise ScriptFailed(exc.name, exc.exit_code, "%s (type=%s)\n--- last output ---\n%s"
                               % (exc.message, kind.value, tail or "(none)")) from None
        listed[kind.value] = parse_listing("".join(printed), kind.value)
        line("%s migrations listed: %s" % (kind.value, ", ".join(listed[kind.value]) or "none"))
    return MigrationListing(**listed)


def migration_env(command: MigrateCommand, release_dir: str) -> dict[str, str]:
    env = script_env(command.project, command.version, command.release_line, release_dir,
                     command.deploy_path, command.servers, command.task_id, command.initiator,
                     type=command.type, command=command.direction,
                     migrationName=command.name)
    env.update(command.env)
    return env


def run_migration(command: MigrateCommand, reporter: TaskReporter, settings: AgentSettings,
                  task_files: TaskFiles,
                  redelivered: bool = False) -> None:
    """Run one migrate task to its terminal event."""
    from rds_ssh import remote
    from rds_ssh.connection import connect
    from rds_ssh.errors import SshError

    task_id = command.task_id
    release_dir = posixpath.join(command.deploy_path, "releases", command.version)
    task_files.register(task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                if task_files.is_cancelled(task_id):
                    reporter.event(MigrationCancelled)
                    return
                with reporter.step("migrate"):
                    reporter.line("$ migration script: %s %s %s on %s in %s" % (
                        command.type, command.direction, command.name, command.host.label,
                        release_dir))
                    with connect(command.host, settings.ssh()) as session:
                        env = migration_env(command, session.abs(release_dir))
                        outcome = remote.run_long_script(
                            session, command.deploy_path, release_dir, "migration", task_id,
                            command.script, env, reporter.log,
                            lambda: task_files.is_cancelled(task_id),
                            timeout=settings.script_timeout)
                if outcome.already_ran:
                    reporter.line("This task's migration script already ran to its end on %s "
                                  "(exit status %s): a duplicated command; not running it "
                                  "again." % (command.host.label, outcome.exit_status))
                if outcome.cancelled:
                    reporter.line("Cancelled on request; the script's process group was "
                                  "killed.")
                    reporter.event(MigrationCancelled)
                elif outcome.timed_out:
                    reason = "migration script timed out after %ss" % settings.script_timeout
                    reporter.line("FAILED: " + reason)
                    reporter.event(MigrationFailed, reason=reason,
                                   exit_status=outcome.exit_status)
                elif (outcome.exit_status == remote.LOCKED and not outcome.started
                      and not outcome.already_ran):
                    reason = ("another migration of %s is still running on %s (it holds "
                              "%s/.rds/migration.lock); cancel it or wait for it"
                              % (command.project, command.host.label, command.deploy_path))
                    reporter.line("FAILED: " + reason)
                    reporter.event(MigrationFailed, reason=reason, exit_status=remote.LOCKED)
                elif outcome.exit_status != 0:
                    how = ("exited with status %d" % outcome.exit_status
                           if outcome.exit_status is not None else "ended without a status")
                    reason = "migration script %s\n--- last output ---\n%s" % (
                        how, reporter.tail())
                    reporter.line("FAILED: migration script %s" % how)
                    reporter.event(MigrationFailed, reason=reason[-8000:],
                                   exit_status=outcome.exit_status)
                else:
                    reporter.event(MigrationFinished)
            except CommandDropped as exc:  # a refused claim: this run must not act
                reporter.line("Stopped: %s" % exc)
                raise
            except SshError as exc:
                reporter.line("FAILED: %s" % exc)
                reporter.event(MigrationFailed, reason=str(exc)[-8000:])
            except Exception as exc:
                log.exception("migrate task %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %r" % (exc,))
                reporter.event(MigrationFailed, reason="internal error: %r" % (exc,))
    finally:
        task_files.unregister(task_id)


__all__ = ["BadListing", "ScriptFailed", "list_migrations", "run_migration"]
