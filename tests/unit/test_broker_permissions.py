"""The printed broker setup is exactly the permissions the interface test checks."""
import re
import shlex

from rds_bus import permissions


def test_the_shell_script_creates_each_role_with_its_permissions():
    script = permissions.shell_script("/v").replace('"$RDS_AGENT_AMQP_PASSWORD"', "pa")
    parsed = [shlex.split(line) for line in script.replace(
        '"$RDS_WEB_AMQP_PASSWORD"', "pw").splitlines()]
    expected = (permissions.rabbitmqctl_commands("agent", "rds-agent", "pa", "/v")
                + permissions.rabbitmqctl_commands("web", "rds-web", "pw", "/v"))
    assert parsed == expected


def test_agents_may_not_write_the_command_exchanges():
    configure, write, read = permissions.ROLES["agent"]
    for exchange in ("rds.commands", "rds.broadcast"):
        assert not re.fullmatch(write, exchange) and re.fullmatch(read, exchange)
    assert re.fullmatch(write, "rds.events") and not re.fullmatch(read, "rds.ingest.events")
    assert re.fullmatch(write, "rds.killer.cancel.default.host1_killer_7")


def test_agents_may_send_heartbeats_but_not_read_their_queue():
    configure, write, read = permissions.ROLES["agent"]
    assert re.fullmatch(write, "rds.heartbeats") and re.fullmatch(read, "rds.heartbeats")
    assert re.fullmatch(write, "rds.pruner.heartbeats")  # declare and bind it
    assert not re.fullmatch(read, "rds.pruner.heartbeats")
