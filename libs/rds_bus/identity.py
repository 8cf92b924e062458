"""Who an agent copy is: its pool and its unique name.

nameko config keys (derived from ``RDS_AGENT_POOL``/``RDS_AGENT_NAME`` by
``rds_settings.nameko``):

* ``AGENT_POOL``: the pool whose commands this copy takes (default ``default``).
* ``AGENT_NAME``: the host part of the copy's name (default: the host name).

The full name of a copy is ``<AGENT_NAME>/<service>/<pid>``: unique per
process, so two copies on one host are told apart. Queues are never named
by it (a restarted copy must find its predecessor's messages): they are
named by pool and host.
"""
import os
import socket
from collections.abc import Mapping
from typing import Any

from rds_bus.topology import check_pool

AGENT_POOL_KEY = "AGENT_POOL"
AGENT_NAME_KEY = "AGENT_NAME"
DEFAULT_POOL = "default"


def agent_pool(config: Mapping[str, Any]) -> str:
    return check_pool(config.get(AGENT_POOL_KEY) or DEFAULT_POOL)


def agent_host(config: Mapping[str, Any]) -> str:
    return config.get(AGENT_NAME_KEY) or socket.gethostname()


def agent_name(config: Mapping[str, Any], service_name: str) -> str:
    return "%s/%s/%d" % (agent_host(config), service_name, os.getpid())


def pid_is_gone(pid: int) -> bool:
    """True when process ``pid`` of this host has exited (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
