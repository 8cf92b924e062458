"""The activator's cron step: the live release's cron on every server.

After the switch (and before post-use) the activator installs the activated
release's cron config as the project's block of the login user's crontab on
every server (``rds_ssh.cron``). ``command.cron`` is None when neither the
release nor the one it replaces has cron: then no server is touched. An
empty string removes the block.

If the install fails anywhere, the activation fails: the previous release's
cron goes back on every server and the servers are switched back (by the
activation's strategy). A post-use failure restores the previous cron the
same way.
"""
from rds_agent.reporting import TaskReporter
from rds_agent.settings import AgentSettings
from rds_contracts.activator import ActivateCommand


def install_step(command: ActivateCommand, reporter: TaskReporter,
                 settings: AgentSettings) -> str | None:
    """Install the release's cron everywhere; the failure reason, or None."""
    from rds_ssh.cron import install_cron

    if command.cron is None:
        return None
    with reporter.step("cron"):
        results = install_cron(command.servers, command.project, command.cron, settings.ssh(),
                               concurrency=command.concurrency, log=reporter.line)
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    return "cron install failed on %d of %d server(s): %s" % (
        len(failed), len(results), "; ".join(r.error or "failed" for r in failed))


def restore_step(command: ActivateCommand, reporter: TaskReporter,
                 settings: AgentSettings) -> None:
    """Put the previous release's cron back (before a switch back)."""
    from rds_ssh.cron import install_cron

    if command.cron is None:
        return
    install_cron(command.servers, command.project, command.previous_cron or "",
                 settings.ssh(), concurrency=command.concurrency, log=reporter.line)
