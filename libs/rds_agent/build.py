"""The builder's job: check out, build, pack, upload; report every step.

One call of :func:`run_build` is one run of a build task::

    task_started
    step checkout  (mirror clone or fetch, resolve the ref, fresh workspace)
    step build     (the project's build script, output streamed as task_log)
    step migrations (the migrations list script, if any: rds_agent.migrations)
    step pack      (manifest of the built tree)   → build_built
    step upload    (every server in parallel)     → build_installing, server_ready…
    build_finished | build_failed(phase, reason) | build_cancelled

A command with ``expect_manifest_sha256`` installs a release on its missing
servers: the same commit is built again and shipped (to those servers only)
only if its manifest is the one already verified on the other servers.

Each run has its own workspace and upload scratch space (named by its run
id), removed when the run ends; the mirror stays for the next build. With a
fencing reporter the run claims the task before it starts and before the
upload; a refused claim stops the run where it is (the task was cancelled,
reaped or taken over) and leaves its end to whoever holds the task.
"""
import logging
import os
import shutil
from collections.abc import Iterable

from rds_agent import install
from rds_agent.environment import build_env
from rds_agent.git import GitError, Mirrors
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskCancelled, TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_bus.entrypoints import CommandDropped
from rds_contracts.base import ServerResult
from rds_contracts.builder import (
    BuildBuilt,
    BuildCancelled,
    BuildCommand,
    BuildFailed,
    BuildFinished,
    BuildInstalling,
)
from rds_contracts.migrator import MigrationListing
from rds_core.manifest import BadTree, Manifest, scan_tree

log = logging.getLogger(__name__)


class _Failed(Exception):
    def __init__(self, phase: str, reason: str, servers: Iterable[ServerResult] = ()) -> None:
        super().__init__(reason)
        self.phase, self.reason, self.servers = phase, reason, list(servers)


def run_build(command: BuildCommand, reporter: TaskReporter, settings: AgentSettings,
              task_files: TaskFiles, redelivered: bool = False) -> None:
    """Run one build task to its terminal event."""
    from rds_ssh.upload import upload_release

    task_id = command.task_id
    workspace = settings.path("builds", command.project, "%s-%s" % (command.version,
                                                                    reporter.run_id))
    uploads_dir = settings.path("uploads", reporter.run_id)
    task_files.register(task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                task_files.check(task_id)
                commit = _checkout(command, reporter, settings, workspace)
                task_files.check(task_id)
                _build(command, reporter, settings, task_files, workspace)
                cron = install.run_cron(command, reporter, settings, task_files, workspace)
                install.link_shared(command, reporter, workspace)
                task_files.check(task_id)
                migrations = _list_migrations(command, reporter, settings, task_files,
                                              workspace)
                with reporter.step("pack"):
                    try:
                        manifest = scan_tree(workspace)
                    except BadTree as exc:
                        raise _Failed("pack", str(exc)) from None
                    _check_expected(command, manifest)
                reporter.event(BuildBuilt, commit=commit, files=len(manifest.files),
                               bytes=manifest.total_bytes, cron=cron)
                reporter.line("Built %s %s at %s: %d files, %d bytes of content"
                              % (command.project, command.version, commit[:12],
                                 len(manifest.files), manifest.total_bytes))
                reporter.event(BuildInstalling, servers=len(command.servers))
                finisher = install.ServerFinisher(command, reporter, settings)
                with reporter.step("upload"):
                    uploads = install.deploy_with_script(
                        command, command.deploy_script, reporter, settings, task_files,
                        workspace, manifest, finisher) if command.deploy_script else upload_release(
                        command.servers, command.deploy_path, command.version, workspace,
                        manifest, settings.ssh(), uploads_dir,
                        concurrency=command.upload.concurrency,
                        max_failures=command.upload.max_failures, log=reporter.line,
                        manifest_cache=settings.path("manifests"),
                        is_cancelled=lambda: task_files.is_cancelled(task_id),
                        on_server_ready=finisher)
                uploads = finisher.apply(uploads)
                task_files.check(task_id)
                results = [ServerResult(server_id=u.server.id, ok=u.ok, error=u.error)
                           for u in uploads]
                failed = [u for u in uploads if not u.ok]
                if len(failed) > command.upload.max_failures:
                    raise _Failed("upload", "upload failed on %d of %d server(s): %s" % (
                        len(failed), len(uploads),
                        "; ".join("%s: %s" % (u.server.label, u.error) for u in failed)),
                        results)
                reporter.event(BuildFinished, servers=results, migrations=migrations)
            except TaskCancelled:
                reporter.line("Cancelled on request.")
                reporter.event(BuildCancelled)
            except CommandDropped as exc:
                reporter.line("Stopped: %s" % exc)
                raise
            except (_Failed, install.StepFailed) as exc:
                reporter.line("FAILED (%s): %s" % (exc.phase, exc.reason))
                reporter.event(BuildFailed, phase=exc.phase, reason=exc.reason[-8000:],
                               servers=exc.servers)
            except Exception as exc:
                log.exception("build task %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %r" % (exc,))
                reporter.event(BuildFailed, phase="internal", reason=repr(exc)[-8000:])
    finally:
        task_files.unregister(task_id)
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.rmtree(uploads_dir, ignore_errors=True)


def _check_expected(command: BuildCommand, manifest: Manifest) -> None:
    """Installing on missing servers ships only the tree verified on the others."""
    expected = command.expect_manifest_sha256
    if expected is not None and manifest.sha256 != expected:
        raise _Failed("pack", "the tree built again from %s differs from the one verified on "
                      "the other servers (manifest %s, expected %s): the build is not "
                      "reproducible; rebuild the release to install it everywhere"
                      % (command.ref, manifest.sha256[:12], expected[:12]))


def _checkout(command: BuildCommand, reporter: TaskReporter, settings: AgentSettings,
              workspace: str) -> str:
    with reporter.step("checkout"):
        mirrors = Mirrors(settings.work_dir)
        try:
            mirrors.update(command.repository, reporter.log)
            commit = mirrors.resolve(command.repository, command.ref)
            reporter.line("Checking out %s (%s)" % (command.ref, commit))
            mirrors.checkout(command.repository, commit, workspace, reporter.log)
        except GitError as exc:
            raise _Failed("checkout", str(exc)) from None
        return commit


def _build(command: BuildCommand, reporter: TaskReporter, settings: AgentSettings,
           task_files: TaskFiles, workspace: str) -> None:
    env = build_env(command, "build", workspace)
    with reporter.step("build"):
        reporter.line("$ build script")
        try:
            run_task_script("build", command.build_script, env, workspace, reporter.log,
                            settings, task_files, command.task_id)
        except ScriptFailed as exc:
            raise _Failed("build", "%s\n--- last output ---\n%s"
                          % (exc.message, reporter.tail())) from None
    if not os.path.isdir(workspace):
        raise _Failed("build", "the build script removed its own directory")


def _list_migrations(command: BuildCommand, reporter: TaskReporter, settings: AgentSettings,
                     task_files: TaskFiles, workspace: str) -> MigrationListing | None:
    """What the project's migrations script lists in the built tree (None: no script)."""
    from rds_agent.migrations import BadListing, list_migrations

    if not command.migrations_script:
        return None
    env = build_env(command, "migrations", workspace)
    with reporter.step("migrations"):
        try:
            return list_migrations(command.migrations_script, env, workspace, reporter.line,
                                   settings, task_files, command.task_id)
        except (BadListing, ScriptFailed) as exc:
            raise _Failed("migrations", getattr(exc, "message", None) or str(exc)) from None
