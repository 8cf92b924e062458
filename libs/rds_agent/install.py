"""What the builder does around the build and upload besides moving bytes.

Hooked into ``rds_agent.build`` with one call per stage, so the pipeline
there stays a list of steps::

    step build       the project's build script
    step cron        its cron script: output kept with the release     (cron)
    step link        shared files/dirs and config files become relative
                     symlinks in the built tree (so they are packed,
                     uploaded and verified with the release)           (link)
    step upload      built-in verified upload, or the project's deploy
                     script (agent, projectDir = the built tree)        (deploy)
      per server:    create missing shared targets, run post_deploy in
                     the release directory; only then server_ready      (post_deploy)

Failures raise :class:`StepFailed` with the phase in parentheses above;
``build_failed`` carries it, with the script's output.
"""
import logging
import os
import posixpath
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from rds_agent.environment import build_env, server_env
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_contracts.base import ServerResult, ServerSpec
from rds_contracts.builder import BuildCommand, ServerReady
from rds_core import shared
from rds_core.manifest import Manifest
from rds_core.scripts import release_dir

if TYPE_CHECKING:
    from rds_ssh.upload import ServerUpload

log = logging.getLogger(__name__)

#: Largest cron config a release may carry.
MAX_CRON_BYTES = 64 * 1024
MAX_SCRIPT_OUTPUT = 8000


class StepFailed(Exception):
    """A build step failed; ``phase`` and ``reason`` go to ``build_failed``."""

    def __init__(self, phase: str, reason: str, servers: Iterable[ServerResult] = ()) -> None:
        super().__init__(reason)
        self.phase, self.reason, self.servers = phase, reason, list(servers)


def run_cron(command: BuildCommand, reporter: TaskReporter, settings: AgentSettings,
             task_files: TaskFiles, workspace: str) -> str | None:
    """Run the cron script in the built tree; its output is the release's cron config."""
    if not command.cron_script:
        return None
    printed: list[str] = []

    def output(text: str) -> None:
        printed.append(text)
        reporter.log(text)

    with reporter.step("cron"):
        reporter.line("$ cron script")
        try:
            run_task_script("cron", command.cron_script, build_env(command, "cron", workspace),
                            workspace, output, settings, task_files, command.task_id)
        except ScriptFailed as exc:
            raise StepFailed("cron", "%s\n--- last output ---\n%s"
                             % (exc.message, "".join(printed)[-MAX_SCRIPT_OUTPUT:])) from None
    cron = "".join(printed)
    if len(cron.encode()) > MAX_CRON_BYTES:
        raise StepFailed("cron", "the cron script printed %d bytes; at most %d are allowed"
                         % (len(cron.encode()), MAX_CRON_BYTES))
    return cron


def link_shared(command: BuildCommand, reporter: TaskReporter, workspace: str) -> None:
    """Replace each shared path and config file in the built tree by its relative link."""
    links = shared.release_links(command.shared_files, command.shared_dirs,
                                 command.config_files)
    if not links:
        return
    with reporter.step("link"):
        for path in sorted(links, key=lambda p: (p.count("/"), p)):
            full = os.path.join(workspace, *path.split("/"))
            parent = os.path.dirname(full)
            probe = parent
            while probe != workspace:
                if os.path.islink(probe):
                    raise StepFailed("link", "%s lies inside %s, which is itself a shared link"
                                     % (path, os.path.relpath(probe, workspace)))
                probe = os.path.dirname(probe)
            if os.path.islink(full) or os.path.isfile(full):
                os.unlink(full)
            elif os.path.isdir(full):
                shutil.rmtree(full)
            os.makedirs(parent, exist_ok=True)
            target = shared.link_target(path, links[path])
            os.symlink(target, full)
            reporter.line("linked %s -> %s" % (path, target))


class ServerFinisher:
    """The per-server end of an install: shared targets, post_deploy, server_ready.

    Passed to the upload as ``on_server_ready``; servers where it failed are
    turned into failures by :meth:`apply`.
    """

    def __init__(self, command: BuildCommand, reporter: TaskReporter,
                 settings: AgentSettings) -> None:
        self.command, self.reporter, self.settings = command, reporter, settings
        self.failures: dict[int, str] = {}
        self.lock = threading.Lock()

    @property
    def touches_servers(self) -> bool:
        c = self.command
        return bool(c.shared_files or c.shared_dirs or c.config_files or c.post_deploy_script)

    def __call__(self, result: "ServerUpload") -> None:
        server = result.server
        if self.touches_servers:
            try:
                error = self._finish(server)
            except Exception as exc:  # a bug must still fail this server, not pass it
                log.exception("finishing the install on %s failed", server.label)
                error = "%s: internal error: %r" % (server.label, exc)
            if error is not None:
                with self.lock:
                    self.failures[server.id] = error
                return
        self.reporter.event(ServerReady, server_id=server.id,
                            manifest_sha256=result.manifest_sha256,
                            files_sent=result.files_sent, bytes_sent=result.bytes_sent,
                            seeded_from=result.seeded_from)

    def _finish(self, server: ServerSpec) -> str | None:
        from rds_ssh import links
        from rds_ssh.connection import connect
        from rds_ssh.errors import SshError

        c, line = self.command, self.reporter.line
        try:
            with connect(server, self.settings.ssh()) as session:
                created = links.ensure_shared(session, c.deploy_path, c.shared_dirs,
                                              c.shared_files)
                if created:
                    line("%s: created shared/%s" % (server.label, ", shared/".join(created)))
                missing = links.missing_config_files(session, c.deploy_path, c.config_files)
                if missing:
                    line("%s: WARNING: config file(s) %s not in shared/config yet (their "
                         "push has not arrived); the links dangle until it does"
                         % (server.label, ", ".join(missing)))
                if not c.post_deploy_script:
                    return None
                cwd = session.abs(release_dir(c.deploy_path, c.version))
                status, output = links.run_short_script(
                    session, c.post_deploy_script, server_env(c, "post_deploy", cwd), cwd)
        except SshError as exc:
            line("%s: install failed: %s" % (server.label, exc.message))
            return "%s: %s" % (server.label, exc.message)
        self.reporter.log(_prefixed(server.label, output))
        if status != 0:
            line("%s: post_deploy script exited with status %s" % (server.label, status))
            return "%s: post_deploy script exited with status %s: %s" % (
                server.label, status, output.strip()[-MAX_SCRIPT_OUTPUT:] or "no output")
        line("%s: post_deploy script succeeded" % server.label)
        return None

    def apply(self, uploads: list["ServerUpload"]) -> list["ServerUpload"]:
        """``uploads`` with the servers this finisher failed marked as failed.

        Raises StepFailed("post_deploy") when those failures break the budget.
        """
        for upload in uploads:
            if upload.ok and upload.server.id in self.failures:
                upload.ok, upload.error = False, self.failures[upload.server.id]
        failed = [u for u in uploads if not u.ok]
        if self.failures and len(failed) > self.command.upload.max_failures:
            results = [ServerResult(server_id=u.server.id, ok=u.ok, error=u.error)
                       for u in uploads]
            raise StepFailed("post_deploy", "install failed on %d of %d server(s): %s" % (
                len(failed), len(uploads), "; ".join(u.error or "failed" for u in failed)),
                results)
        return uploads


def _prefixed(label: str, text: str) -> str:
    return "".join("%s| %s" % (label, line) for line in text.splitlines(keepends=True))


def deploy_with_script(command: BuildCommand, script: str, reporter: TaskReporter,
                       settings: AgentSettings, task_files: TaskFiles, workspace: str,
                       manifest: Manifest, on_server_ready: Callable[["ServerUpload"], None]
                       ) -> list["ServerUpload"]:
    """Run the project's deploy script instead of the built-in upload."""
    from rds_ssh.upload import ServerUpload

    env = build_env(command, "deploy", workspace,
                    releaseDir=posixpath.join(release_dir(command.deploy_path,
                                                          command.version)))
    reporter.line("$ deploy script (instead of the built-in upload)")
    try:
        run_task_script("deploy", script, env, workspace, reporter.log, settings, task_files,
                        command.task_id)
    except ScriptFailed as exc:
        raise StepFailed("deploy", "%s\n--- last output ---\n%s"
                         % (exc.message, reporter.tail())) from None
    uploads = [ServerUpload(server, ok=True, manifest_sha256=manifest.sha256,
                            files_sent=len(manifest.files), bytes_sent=manifest.total_bytes)
               for server in command.servers]
    with ThreadPoolExecutor(max_workers=command.upload.concurrency) as pool:
        list(pool.map(on_server_ready, uploads))
    return uploads
