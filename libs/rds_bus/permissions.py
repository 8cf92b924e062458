"""RabbitMQ users per role: what each side may do on the broker (defence in depth).

Signatures (``rds_bus.signing``) stop anyone without the keys; these
permissions also stop a stolen **agent** login from publishing commands at all:

* ``agent`` may read the command exchanges and its own queues, and write only
  ``rds.events`` and ``rds.heartbeats`` (and the queues it declares and binds,
  and nameko's RPC exchange for the operators' ``status()``); it cannot read
  ingest's or the pruner's queues. It cannot write ``rds.commands`` or
  ``rds.broadcast``: a command published with an agent login is refused by the
  broker (``ACCESS_REFUSED``).
* ``web`` (web, ingest, pruner) may do everything under ``rds.*``: it sends
  commands and its services' heartbeats are events.

Each role is three regular expressions as RabbitMQ takes them (configure,
write, read); ``rabbitmqctl_commands`` gives the commands that create a user, and
``python -m rds_bus.permissions [VHOST]`` prints them for both roles.
"""
import shlex

from rds_contracts.registry import COMMAND_SERVICE

_AGENT_SERVICES = sorted(set(COMMAND_SERVICE.values()) | {"migrator", "gc"})
_NAMEKO = r"nameko-rpc|rpc-.+|rpc\.reply-.+"
_OWN_QUEUES = r"rds\.(%s)\..+" % "|".join(_AGENT_SERVICES)

#: role -> (configure, write, read)
ROLES: dict[str, tuple[str, str, str]] = {
    "agent": (
        r"^(rds\..+|%s)$" % _NAMEKO,
        r"^(rds\.events|rds\.dead|rds\.ingest\.events|rds\.heartbeats|rds\.pruner\.heartbeats"
        r"|%s|%s)$" % (_OWN_QUEUES, _NAMEKO),
        r"^(rds\.(commands|broadcast|events|heartbeats|dead)|%s|%s)$" % (_OWN_QUEUES, _NAMEKO),
    ),
    "web": (r"^(rds\..+|%s)$" % _NAMEKO,) * 3,
}


def rabbitmqctl_commands(role: str, user: str, password: str, vhost: str = "/") -> list[list[str]]:
    """The ``rabbitmqctl`` calls that create ``user`` with the permissions of ``role``."""
    configure, write, read = ROLES[role]
    return [["rabbitmqctl", "add_user", user, password],
            ["rabbitmqctl", "set_permissions", "-p", vhost, user, configure, write, read]]


def shell_script(vhost: str = "/") -> str:
    """Shell lines creating users ``rds-agent`` and ``rds-web`` (passwords from
    ``$RDS_AGENT_AMQP_PASSWORD`` and ``$RDS_WEB_AMQP_PASSWORD``)."""
    lines = []
    for role in ROLES:
        variable = '"$RDS_%s_AMQP_PASSWORD"' % role.upper()
        for argv in rabbitmqctl_commands(role, "rds-" + role, "PASSWORD", vhost):
            lines.append(" ".join(variable if arg == "PASSWORD" else shlex.quote(arg)
                                  for arg in argv))
    return "\n".join(lines)


if __name__ == "__main__":  # python -m rds_bus.permissions [VHOST] | sh
    import sys

    print(shell_script(sys.argv[1] if len(sys.argv) > 1 else "/"))
