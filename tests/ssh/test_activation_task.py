"""The activator's task (``rds_agent.activation``) against real sshd app servers.

Both strategies (built-in switch, the project's ``use`` script), post-use
failures, and the restart rule: a rerun switches back to the command's
``previous_version``, never to what the servers point at when it starts.
"""
import uuid

import pytest

from rds_agent.activation import run_activation
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_contracts.activator import ActivateCommand, ActivationFailed, ActivationFinished
from rds_ssh.activate import switch_servers
from tests.ssh.conftest import R1, R2, V1, V2, agent_settings, on_disk, quiet


@pytest.fixture
def activate(servers, deploy_path, settings, tmp_path):
    """``activate(version, previous, **scripts)`` runs one task; returns its terminal event."""
    config = agent_settings(tmp_path, settings)

    def run(version, previous, redelivered=False, **scripts):
        command = ActivateCommand(task_id=uuid.uuid4().hex, project="shop", version=version,
                                  previous_version=previous, deploy_path=deploy_path,
                                  servers=servers, **scripts)
        events, lines = [], []
        reporter = TaskReporter(events.append, command.task_id, "test-agent")
        reporter.line = lambda text, real=reporter.line: (lines.append(text), real(text))[1]
        run_activation(command, reporter, config, TaskFiles(config.run_dir),
                       redelivered=redelivered)
        terminal = [e for e in events if isinstance(e, (ActivationFinished, ActivationFailed))]
        assert len(terminal) == 1, events
        return terminal[0], lines
    return run


def link_script(app_servers, deploy_path, target, servers=None, then="true"):
    """A ``use`` script that points ``current`` of the given servers at ``target``."""
    chosen = app_servers if servers is None else servers
    return "\n".join(["ln -sfn %s %s" % (target, s.path(deploy_path, "current"))
                      for s in chosen] + [then])


def test_the_built_in_switch_activates_every_server(two_releases, activate, app_servers,
                                                    deploy_path):
    event, _ = activate(V1, None)
    assert isinstance(event, ActivationFinished)
    assert [(s.ok, s.current) for s in event.servers] == [(True, R1)] * 2
    assert on_disk(app_servers, deploy_path) == [R1, R1]


def test_a_rerun_after_the_servers_were_switched_restores_the_commands_previous_version(
        two_releases, activate, servers, app_servers, deploy_path, settings):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    # the first run switched every server to V2, then its activator died during post_use
    assert switch_servers(servers, deploy_path, V2, settings, log=quiet).ok

    event, lines = activate(V2, V1, redelivered=True, post_use_script="exit 1")

    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert "post-use script failed" in event.reason
    assert [(s.ok, s.current) for s in event.servers] == [(True, R1)] * 2
    assert on_disk(app_servers, deploy_path) == [R1, R1]
    assert any("switching back to %s" % R1 in line for line in lines)


def test_a_rerun_whose_switch_fails_restores_the_commands_previous_version(
        two_releases, activate, servers, app_servers, deploy_path, settings, read_only):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    assert switch_servers(servers, deploy_path, V2, settings, log=quiet).ok  # a dead run
    read_only(app_servers[1])

    event, _ = activate(V2, V1, redelivered=True)

    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert (event.servers[0].ok, event.servers[0].current) == (False, R1)
    assert "switching back failed" in event.servers[1].error  # it cannot switch at all
    assert on_disk(app_servers, deploy_path)[0] == R1


def test_a_first_activation_whose_post_use_fails_removes_current_again(
        two_releases, activate, app_servers, deploy_path):
    event, _ = activate(V1, None, post_use_script="echo broken; exit 2")
    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert on_disk(app_servers, deploy_path) == [None, None]


def test_a_use_script_switches_and_current_is_read_back(two_releases, activate, app_servers,
                                                        deploy_path):
    event, lines = activate(V2, None, use_script=link_script(app_servers, deploy_path, R2))
    assert isinstance(event, ActivationFinished)
    assert [(s.ok, s.current) for s in event.servers] == [(True, R2)] * 2
    assert "$ use script" in lines


def test_a_failing_use_script_is_switched_back_like_post_use(
        two_releases, activate, servers, app_servers, deploy_path, settings):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    script = link_script(app_servers, deploy_path, R2, servers=app_servers[:1], then="exit 3")

    event, _ = activate(V2, V1, use_script=script)

    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert "use script failed" in event.reason and "status 3" in event.reason
    assert [(s.ok, s.current) for s in event.servers] == [(True, R1)] * 2
    assert on_disk(app_servers, deploy_path) == [R1, R1]


def test_a_failing_use_script_leaves_servers_it_did_not_switch_alone(
        two_releases, activate, app_servers, deploy_path):
    event, _ = activate(V2, V1, use_script="exit 4")  # nothing was live, nothing touched
    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert on_disk(app_servers, deploy_path) == [None, None]  # no current created


def test_a_failing_post_use_after_a_use_script_switches_back(
        two_releases, activate, servers, app_servers, deploy_path, settings):
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok
    event, _ = activate(V2, V1, use_script=link_script(app_servers, deploy_path, R2),
                        post_use_script="exit 1")
    assert isinstance(event, ActivationFailed) and event.rolled_back
    assert on_disk(app_servers, deploy_path) == [R1, R1]
