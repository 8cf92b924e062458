"""The activator's cron step: the live release's cron on every server.

After the switch (and before post-use) the activator installs the activated
release's cron config as the project's block of the login user's crontab on
every server (``rds_ssh.cron``). ``command.cron`` is None when neither the
release nor the one it replaces has cron: then no server is touched. An
empty string removes the block.

If the install fails anywhere, the activation fails: every server is
switched back to what it pointed at before and gets the previous release's
cron again. A post-use failure restores the previous cron the same way.
"""
from rds_contracts.activator import ActivateCommand, ActivationFailed
from rds_contracts.base import ServerResult


def install_step(command: ActivateCommand, reporter, settings, previous: dict) -> bool:
    """Install the release's cron; True when that failed and the activation was undone."""
    from rds_ssh import activate
    from rds_ssh.cron import install_cron

    if command.cron is None:
        return False
    with reporter.step("cron"):
        results = install_cron(command.servers, command.project, command.cron, settings.ssh(),
                               concurrency=command.concurrency, log=reporter.line)
    failed = [r for r in results if not r.ok]
    if not failed:
        return False
    reason = "cron install failed on %d of %d server(s): %s" % (
        len(failed), len(results), "; ".join(r.error or "failed" for r in failed))
    reporter.line("%s; switching back" % reason)
    restored = activate.restore([(s, previous.get(s.id)) for s in command.servers],
                                command.deploy_path, settings.ssh(), log=reporter.line)
    restore_step(command, reporter, settings)
    reporter.event(ActivationFailed, reason=reason[-8000:], rolled_back=True,
                   servers=[ServerResult(server_id=r.server.id, ok=r.ok, current=r.current,
                                         error=r.error) for r in restored])
    return True


def restore_step(command: ActivateCommand, reporter, settings) -> None:
    """Put the previous release's cron back (after a switch back)."""
    from rds_ssh.cron import install_cron

    if command.cron is None:
        return
    install_cron(command.servers, command.project, command.previous_cron or "",
                 settings.ssh(), concurrency=command.concurrency, log=reporter.line)
