"""Fault injection for the end-to-end tests: services stopped, killed and restarted,
broker connections dropped, processes watched until they exit."""
import os
import select
import subprocess
import time
from urllib.parse import unquote, urlsplit

from kombu import Connection

from rds_bus import topology
from rds_db.models import Task
from rds_db.session import transaction
from rds_testing import localrun
from tests.e2e.helpers import installed


def installed_build(rds_system, name, comment):
    """Build a release of project ``name`` until it is installed: (the release, its build
    task's id, that task's run id), what an event of the task names."""
    release = installed(rds_system.api, name, comment, timeout=60)
    task_id = release["tasks"][0]["id"]
    with transaction(rds_system.session_factory) as session:
        return release, task_id, session.get(Task, task_id).run_id


def vhost(rds_system):
    return unquote(urlsplit(rds_system.env["RDS_AMQP_URI"]).path.lstrip("/"))


def drop_broker_connections(rds_system):
    """What a broker restart does to rds: every connection of its vhost is closed."""
    subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", vhost(rds_system),
                    "fault injection"], check=True, stdout=subprocess.DEVNULL)


def broker_away(rds_system):
    """The broker refuses every connection of the vhost (and drops the open ones)."""
    subprocess.run(["rabbitmqctl", "-q", "set_vhost_limits", "-p", vhost(rds_system),
                    '{"max-connections": 0}'], check=True, stdout=subprocess.DEVNULL)
    drop_broker_connections(rds_system)


def broker_back(rds_system):
    subprocess.run(["rabbitmqctl", "-q", "set_vhost_limits", "-p", vhost(rds_system),
                    '{"max-connections": -1}'], check=True, stdout=subprocess.DEVNULL)


def stop(rds_system, *services):
    localrun.stop(rds_system.var_dir, services=services)


def start(rds_system, *services, **env):
    localrun.start(rds_system.var_dir, dict(rds_system.env, **env), services=services)


def service_pid(rds_system, service):
    with open(os.path.join(rds_system.var_dir, "run", service + ".pid")) as handle:
        return int(handle.read())


def wait_exit(pid, timeout=20):
    """Block until process ``pid`` (any, not only a child) exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError("process %d still runs after %ss" % (pid, timeout))
    finally:
        os.close(fd)


def wait_log(rds_system, service, text, timeout=30):
    """Block until ``text`` appears in a service's log (it is how the service says it)."""
    path = os.path.join(rds_system.var_dir, "log", service + ".log")
    deadline = time.monotonic() + timeout
    with open(path, errors="replace") as handle:
        seen = ""
        while text not in seen:
            chunk = handle.read()
            if chunk:
                seen = seen[-len(text):] + chunk
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("%r not in %s after %ss" % (text, path, timeout))
            time.sleep(0.05)  # nothing new yet: the next line is the event we wait for


def wait_until(check, what, timeout=60):
    """Block until ``check()`` returns something true (it reads the state we wait for)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("%s did not happen within %ss" % (what, timeout))
        time.sleep(0.2)


def dead_letter_for(rds_system, task_id, timeout=30):
    """Block until a message about ``task_id`` is dead-lettered (others are left alone)."""
    deadline = time.monotonic() + timeout
    with Connection(rds_system.env["RDS_AMQP_URI"]) as connection:
        queue = connection.SimpleQueue(topology.DEAD_QUEUE)
        try:
            while True:
                message = queue.get(block=True, timeout=max(0.1, deadline - time.monotonic()))
                if isinstance(message.payload, dict) and message.payload.get("task_id") == task_id:
                    message.ack()
                    return message
                # someone else's: left unacked, it goes back when the queue closes
        finally:
            queue.close()
