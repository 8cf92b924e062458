"""The activator's job: switch ``current`` on every server, or switch back.

One call of :func:`run_activation` is one run of an activation task::

    task_started
    step switch     built-in atomic switch on every server (or the project's
                    custom ``use`` script), read back from every server
    step post-use   the project's post-use script, if any; if it fails, every
                    server is switched back to what it pointed at before
    activation_finished | activation_failed(reason, rolled_back)
"""
import logging

from rds_agent import cron
from rds_agent.environment import activation_env
from rds_agent.scripts import ScriptFailed, run_script
from rds_contracts.activator import ActivationFailed, ActivationFinished
from rds_contracts.base import ServerResult

log = logging.getLogger(__name__)


def _results(activation_results):
    return [ServerResult(server_id=r.server.id, ok=r.ok, current=r.current, error=r.error)
            for r in activation_results]


def run_activation(command, reporter, settings, task_files, redelivered=False):
    """Run one activation task to its terminal event."""
    from rds_ssh import activate
    from rds_ssh.errors import SshError

    task_id = command.task_id
    env = activation_env(command)
    task_files.register(task_id)
    try:
        with reporter:
            reporter.started(redelivered=redelivered)
            try:
                with reporter.step("switch"):
                    if command.use_script:
                        previous = {s.id: activate.read_current(s, command.deploy_path,
                                                                settings.ssh())
                                    for s in command.servers}
                        _script("use", command.use_script, env["use"], reporter, settings,
                                task_files, task_id)
                        results = [ServerResult(server_id=s.id, ok=True,
                                                current=activate.read_current(
                                                    s, command.deploy_path, settings.ssh()))
                                   for s in command.servers]
                    else:
                        outcome = activate.activate_release(
                            command.servers, command.deploy_path, command.version,
                            settings.ssh(), concurrency=command.concurrency, log=reporter.line)
                        if not outcome.ok:
                            reporter.line("Activation failed: %s" % outcome.reason)
                            reporter.event(ActivationFailed, reason=outcome.reason,
                                           rolled_back=outcome.rolled_back,
                                           servers=_results(outcome.results))
                            return
                        results = _results(outcome.results)
                        previous = {r.server.id: r.previous for r in outcome.results}
                if cron.install_step(command, reporter, settings, previous):
                    return
                if command.post_use_script:
                    with reporter.step("post-use"):
                        try:
                            _script("post_use", command.post_use_script, env["post_use"],
                                    reporter, settings, task_files, task_id)
                        except ScriptFailed as exc:
                            reporter.line("post-use failed (%s); switching back" % exc.message)
                            restored = activate.restore(
                                [(s, previous.get(s.id)) for s in command.servers],
                                command.deploy_path, settings.ssh(), log=reporter.line)
                            cron.restore_step(command, reporter, settings)
                            reporter.event(ActivationFailed,
                                           reason="post-use script failed: %s" % exc.message,
                                           rolled_back=True, servers=_results(restored))
                            return
                reporter.event(ActivationFinished, servers=results)
            except ScriptFailed as exc:
                reporter.event(ActivationFailed, reason=exc.message, rolled_back=False)
            except SshError as exc:
                reporter.line("FAILED: %s" % exc)
                reporter.event(ActivationFailed, reason=str(exc), rolled_back=False)
            except Exception as exc:
                log.exception("activation task %s crashed", task_id)
                reporter.line("INTERNAL ERROR: %r" % (exc,))
                reporter.event(ActivationFailed, reason="internal error: %r" % (exc,),
                               rolled_back=False)
    finally:
        task_files.unregister(task_id)


def _script(name, body, env, reporter, settings, task_files, task_id):
    reporter.line("$ %s script" % name)
    run_script(name, body, env, settings.work_dir, reporter.log, settings.path("scripts"),
               task_files=task_files, task_id=task_id, timeout=settings.script_timeout)
