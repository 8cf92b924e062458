"""The nameko dependency every agent service carries.

``AgentRuntime`` publishes the service's events, tracks which tasks this
copy is running, and sends ``agent_heartbeat`` every ``HEARTBEAT_INTERVAL``
seconds (default 5) from its own managed thread, so the heartbeat never
waits for a free worker while long tasks run.
"""
import logging
import os
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

import eventlet
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from rds_bus.identity import agent_host, agent_name, agent_pool
from rds_bus.publish import BusPublisher
from rds_contracts.agents import AgentHeartbeat
from rds_contracts.base import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_KEY = "HEARTBEAT_INTERVAL"
DEFAULT_HEARTBEAT_INTERVAL = 5.0


def rds_version():
    try:
        return version("rds")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "dev"


class AgentRuntime(DependencyProvider):
    def setup(self):
        self.config = self.container.config
        self.service = self.container.service_name
        self.name = agent_name(self.config, self.service)
        self.pool = agent_pool(self.config)
        self.host = agent_host(self.config)
        self.interval = float(self.config.get(HEARTBEAT_INTERVAL_KEY,
                                              DEFAULT_HEARTBEAT_INTERVAL))
        self.publisher = BusPublisher.from_config(self.config, self.config[AMQP_URI_CONFIG_KEY])
        self.running = set()
        self._thread = None

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._heartbeat_loop,
                                                           identifier="heartbeat")

    def stop(self):
        if self._thread is not None:
            self._thread.kill()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self

    def publish(self, event):
        self.publisher.send_event(event)

    def heartbeat(self):
        return AgentHeartbeat(
            agent=self.name, service=self.service, pool=self.pool, host=self.host,
            pid=os.getpid(), version=rds_version(), running_tasks=sorted(self.running),
            interval=self.interval, at=utcnow())

    def beat(self):
        self.publish(self.heartbeat())

    @contextmanager
    def running_task(self, task_id):
        """Mark a task as running in this copy (announced in the heartbeat)."""
        self.running.add(task_id)
        self._safe_beat()
        try:
            yield
        finally:
            self.running.discard(task_id)
            self._safe_beat()

    def _safe_beat(self):
        try:
            self.beat()
        except Exception as exc:  # broker away: the next beat tells the truth
            log.warning("heartbeat of %s failed: %s", self.name, exc)

    def _heartbeat_loop(self):
        while True:
            self._safe_beat()
            eventlet.sleep(self.interval)


class AgentService:
    """Base of every agent service.

    Import the module, not this name, in a service module: ``nameko run``
    treats every class found there as a service.

    It carries the runtime and a ``status`` RPC for operators:
    ``n.rpc.builder.status()`` in ``nameko shell`` answers from one copy of the
    service (the one that takes the RPC): its name, pool, version and tasks.
    """

    runtime = AgentRuntime()

    @rpc
    def status(self):
        """Describe the copy that answers: name, pool, version, running tasks."""
        return self.runtime.heartbeat().to_wire()
