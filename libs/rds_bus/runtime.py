"""The nameko dependency every agent service carries.

``AgentRuntime`` publishes the service's events, tracks which tasks this
copy is running, and sends ``agent_heartbeat`` every ``HEARTBEAT_INTERVAL``
seconds (default 5) from its own managed thread, so the heartbeat never
waits for a free worker while long tasks run. Heartbeats go to their own
exchange and queue (the pruner applies them), so a backlog of events never
delays them.

It also makes the copy's fencing claims (``claim``): an RPC to the pruner,
retried with backoff until the web side answers (a claim never fails because
the broker or the pruner is away for a while), signed with the event key
(``rds_bus.signing``: the pruner refuses unsigned or forged claims). A refusal raises
:class:`ClaimRefused`, which the command entrypoint acks and logs: the
command is dropped. When the refusal names a holder on this host whose
process is gone (killed -9), the claim is made again as its replacement.

``running_task`` refuses (drops) a second delivery of a task this copy is
running right now: the broker redelivers unacked commands when a connection
drops, while the first run goes on.
"""
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import eventlet
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy

from rds_bus import signing
from rds_bus.entrypoints import CommandDropped
from rds_bus.identity import agent_host, agent_name, agent_pool, pid_is_gone
from rds_bus.publish import BusPublisher
from rds_contracts import pruner
from rds_contracts.agents import AgentHeartbeat
from rds_contracts.base import Message, utcnow
from rds_contracts.pruner import ClaimAnswer, ClaimRequest

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_INTERVAL_KEY = "HEARTBEAT_INTERVAL"
DEFAULT_HEARTBEAT_INTERVAL = 5.0
#: Seconds one claim RPC may take before it is asked again.
CLAIM_TIMEOUT_KEY = "CLAIM_TIMEOUT"
DEFAULT_CLAIM_TIMEOUT = 10.0
#: Waits between attempts to reach the web side (the last one repeats).
RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class ClaimRefused(CommandDropped):
    """The web side refused a claim: this run must not act."""

    def __init__(self, answer: ClaimAnswer) -> None:
        super().__init__(answer.reason or "claim refused")
        self.answer = answer

    @property
    def cancelled(self) -> bool:
        return self.answer.cancelled


def rds_version() -> str:
    try:
        return version("rds")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "dev"


def _process_gone(agent: str, my_host: str) -> bool:
    """True when ``agent`` (``host/service/pid``) ran on this host and its process is gone."""
    host, _, rest = agent.partition("/")
    pid = rest.rpartition("/")[2]
    return host == my_host and pid.isdigit() and pid_is_gone(int(pid))


class AgentRuntime(DependencyProvider):
    def setup(self) -> None:
        self.config = self.container.config
        self.service = self.container.service_name
        self.name = agent_name(self.config, self.service)
        self.pool = agent_pool(self.config)
        self.host = agent_host(self.config)
        self.interval = float(self.config.get(HEARTBEAT_INTERVAL_KEY,
                                              DEFAULT_HEARTBEAT_INTERVAL))
        self.claim_timeout = float(self.config.get(CLAIM_TIMEOUT_KEY, DEFAULT_CLAIM_TIMEOUT))
        self.claim_signer = signing.claim_signer(self.config)
        self.publisher = BusPublisher.from_config(self.config, self.config[AMQP_URI_CONFIG_KEY])
        self.running: set[str] = set()
        self._thread = None

    def start(self) -> None:
        self._thread = self.container.spawn_managed_thread(self._heartbeat_loop,
                                                           identifier="heartbeat")

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()

    kill = stop

    def get_dependency(self, worker_ctx: Any) -> "AgentRuntime":
        return self

    def publish(self, event: Message) -> None:
        self.publisher.send_event(event)

    def claim(self, task_id: str, run_id: str, step: str, redelivered: bool = False) -> int:
        """Claim a task for a run; returns the fencing token or raises ClaimRefused."""
        request = ClaimRequest(task_id=task_id, run_id=run_id, agent=self.name, step=step,
                               redelivered=redelivered)
        answer = self._ask(request)
        if (not answer.granted and answer.holder and step == pruner.START
                and _process_gone(answer.holder, self.host)):
            log.warning("task %s: its holder %s died on this host; taking it over",
                        task_id, answer.holder)
            answer = self._ask(request.model_copy(update={"replaces": answer.holder}))
        if not answer.granted or answer.token is None:  # (a granted claim carries a token)
            raise ClaimRefused(answer)
        return answer.token

    def _ask(self, request: ClaimRequest) -> ClaimAnswer:
        body = request.to_wire()
        signature = signing.sign_claim(self.claim_signer, body)

        def ask() -> ClaimAnswer:
            with ServiceRpcProxy(pruner.SERVICE_NAME, self.config,
                                 timeout=self.claim_timeout) as proxy:
                return ClaimAnswer.model_validate(
                    getattr(proxy, pruner.CLAIM_TASK)(body, signature=signature))
        return _retry_forever("claiming task %s" % request.task_id, ask)

    def heartbeat(self) -> AgentHeartbeat:
        return AgentHeartbeat(
            agent=self.name, service=self.service, pool=self.pool, host=self.host,
            pid=os.getpid(), version=rds_version(), running_tasks=sorted(self.running),
            interval=self.interval, at=utcnow())

    def beat(self) -> None:
        self.publisher.send_heartbeat(self.heartbeat())

    @contextmanager
    def running_task(self, task_id: str) -> Iterator[None]:
        """Mark a task as running in this copy (announced in the heartbeat).

        Raises ``CommandDropped`` if this copy runs it already (a redelivery).
        """
        if task_id in self.running:
            raise CommandDropped("task %s is already running in %s" % (task_id, self.name))
        self.running.add(task_id)
        self._safe_beat()
        try:
            yield
        finally:
            self.running.discard(task_id)
            self._safe_beat()

    def _safe_beat(self) -> None:
        try:
            self.beat()
        except Exception as exc:  # broker away: the next beat tells the truth
            log.warning("heartbeat of %s failed: %s", self.name, exc)

    def _heartbeat_loop(self) -> None:
        while True:
            self._safe_beat()
            eventlet.sleep(self.interval)


def _retry_forever(what: str, call: Callable[[], T]) -> T:
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:  # broker, pruner or database away: ask again
            delay = RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF) - 1)]
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__,
                        exc, delay)
            attempt += 1
            eventlet.sleep(delay)


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
    def status(self) -> dict[str, Any]:
        """Describe the copy that answers: name, pool, version, running tasks."""
        return self.runtime.heartbeat().to_wire()
