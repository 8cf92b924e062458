"""The activator's job: switch ``current`` on every server, or switch back.

One call of :func:`run_activation` is one run of an activation task::

    task_started
    step switch     one of two strategies (below), then ``current`` is read
                    back from every server
    step post-use   the project's post-use script, if any
    activation_finished | activation_failed(reason, rolled_back)

Two strategies switch the servers:

* :class:`BuiltInSwitch`: rds's atomic switch (:func:`rds_ssh.activate.
  switch_servers`): every server or none;
* :class:`UseScript`: the project's ``use`` script does the switching, on the
  agent, with the documented script environment.

**Switching back** follows one rule in every case: when the switch, the
``use`` script or the ``post_use`` script fails, the servers are switched
back to the release that was live *before this activation*, as the command
says (``previous_version``, recorded by the control plane when it queued the
command), never to what the servers point at when this run starts. A rerun
of a redelivered command whose first run died after switching therefore
still restores the right release. Which servers are switched back depends
on the strategy: the built-in switch owns ``current`` and puts every server
back (removing ``current`` if nothing was live); after a ``use`` script, only
servers whose ``current`` exists and differs from the previous release are
switched back (a script that does not use ``current`` is left alone).

All SSH work of one run shares one :class:`rds_ssh.workers.Sessions`: the
known-hosts file is read once, each server is connected once, and the
readiness check, the switch, the read-back and a switch back reuse it.
"""
import logging
from collections.abc import Sequence

from rds_agent import cron
from rds_agent.environment import activation_env
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.script_runner import ScriptFailed, run_task_script
from rds_agent.settings import AgentSettings
from rds_contracts.activator import ActivateCommand, ActivationFailed, ActivationFinished
from rds_contracts.base import ServerResult, ServerSpec
from rds_ssh import activate
from rds_ssh.errors import SshError
from rds_ssh.workers import Sessions

log = logging.getLogger(__name__)


class _Failed(Exception):
    """The activation failed; the servers were switched back (or tried to be)."""

    def __init__(self, reason: str, servers: Sequence[ServerResult] = (),
                 rolled_back: bool = True):
        super().__init__(reason)
        self.reason, self.servers, self.rolled_back = reason, list(servers), rolled_back


def _results(activations: Sequence[activate.ServerActivation]) -> list[ServerResult]:
    return [ServerResult(server_id=r.server.id, ok=r.ok, current=r.current, error=r.error)
            for r in activations]


class _Strategy:
    """What both strategies share: the command, the sessions, the way back."""

    def __init__(self, command: ActivateCommand, reporter: TaskReporter,
                 settings: AgentSettings, task_files: TaskFiles, sessions: Sessions):
        self.command, self.reporter, self.settings = command, reporter, settings
        self.task_files, self.sessions = task_files, sessions
        self.servers: list[ServerSpec] = list(command.servers)
        self.previous = activate.release_target(command.previous_version)
        self.envs = activation_env(command)  # by script kind (use, post_use)

    def script(self, name: str, body: str) -> None:
        self.reporter.line("$ %s script" % name)
        run_task_script(name, body, self.envs[name], self.settings.work_dir, self.reporter.log,
                        self.settings, self.task_files, self.command.task_id)

    def switch(self) -> list[ServerResult]:
        """Switch every server; raise :class:`_Failed` (after switching back) if not."""
        raise NotImplementedError

    def servers_to_switch_back(self) -> list[ServerSpec]:
        return self.servers

    def switch_back(self, why: str) -> None:
        """Put the servers back on the previous release and raise :class:`_Failed`."""
        self.reporter.line("%s; switching back to %s" % (why, self.previous or "(none)"))
        targets = self.servers_to_switch_back()
        restored = {r.server.id: r for r in activate.restore(
            [(server, self.previous) for server in targets], self.command.deploy_path,
            self.settings.ssh(), concurrency=self.command.concurrency,
            log=self.reporter.line, sessions=self.sessions)}
        untouched = [s for s in self.servers if s.id not in restored]
        for read in activate.read_currents(untouched, self.command.deploy_path,
                                           self.settings.ssh(), sessions=self.sessions):
            restored[read.server.id] = read
        results = _results([restored[s.id] for s in self.servers])
        failed = [r for r in results if not r.ok]
        if failed:
            why += "; switching back failed on %d server(s)" % len(failed)
        raise _Failed(why, results)


class BuiltInSwitch(_Strategy):
    """rds's atomic ``current`` switch on every server, or on none."""

    def switch(self) -> list[ServerResult]:
        outcome = activate.switch_servers(
            self.servers, self.command.deploy_path, self.command.version, self.settings.ssh(),
            concurrency=self.command.concurrency, log=self.reporter.line,
            sessions=self.sessions, rollback_to=activate.RollbackTo(self.previous))
        if not outcome.ok:
            raise _Failed(outcome.reason or "activation failed", _results(outcome.results),
                          rolled_back=outcome.rolled_back)
        return _results(outcome.results)


class UseScript(_Strategy):
    """The project's ``use`` script switches; rds reads ``current`` back."""

    def switch(self) -> list[ServerResult]:
        try:
            self.script("use", self.command.use_script or "")
        except ScriptFailed as exc:
            self.switch_back("use script failed: %s" % exc.message)
        reads = activate.read_currents(self.servers, self.command.deploy_path,
                                       self.settings.ssh(), sessions=self.sessions)
        unreadable = [r for r in reads if not r.ok]
        if unreadable:
            self.switch_back("cannot read current back after the use script: %s" % "; ".join(
                "%s: %s" % (r.server.label, r.error) for r in unreadable))
        return _results(reads)

    def servers_to_switch_back(self) -> list[ServerSpec]:
        reads = activate.read_currents(self.servers, self.command.deploy_path,
                                       self.settings.ssh(), sessions=self.sessions)
        return [r.server for r in reads
                if r.ok and r.current is not None and r.current != self.previous]


def strategy_for(command: ActivateCommand) -> type[_Strategy]:
    """The strategy a command asks for: its ``use`` script, else the built-in switch."""
    return UseScript if command.use_script else BuiltInSwitch


def run_activation(command: ActivateCommand, reporter: TaskReporter, settings: AgentSettings,
                   task_files: TaskFiles, redelivered: bool = False) -> None:
    """Run one activation task to its terminal event."""
    task_id = command.task_id
    task_files.register(task_id)
    try:
        with reporter, Sessions(settings.ssh()) as sessions:
            reporter.started(redelivered=redelivered)
            strategy = strategy_for(command)(command, reporter, settings, task_files, sessions)
            try:
                with reporter.step("switch"):
                    results = strategy.switch()
                failure = cron.install_step(command, reporter, settings)
                if failure:
                    cron.restore_step(command, reporter, settings)
                    strategy.switch_back(failure)
                if command.post_use_script:
                    with reporter.step("post-use"):
                        try:
                            strategy.script("post_use", command.post_use_script)
                        except ScriptFailed as exc:
                            cron.restore_step(command, reporter, settings)
                            strategy.switch_back("post-use script failed: %s" % exc.message)
                reporter.event(ActivationFinished, servers=results)
            except _Failed as exc:
                reporter.line("Activation failed: %s" % exc.reason)
                reporter.event(ActivationFailed, reason=exc.reason[-8000:],
                               rolled_back=exc.rolled_back, servers=exc.servers)
            except SshError as exc:
                reporter.line("FAILED: %s" % exc)
                reporter.event(ActivationFailed, reason=str(exc)[-8000:], rolled_back=False)
            except Exception as exc:
                log.exception("activation task %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %r" % (exc,))
                reporter.event(ActivationFailed, reason="internal error: %r" % (exc,),
                               rolled_back=False)
    finally:
        task_files.unregister(task_id)
