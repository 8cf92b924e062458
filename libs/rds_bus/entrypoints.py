"""nameko entrypoints that check every message against its contract.

``command_handler(name)`` consumes one command from the agent pool's shared
queue (or, with ``broadcast=True``, from the queue of its pool and host, which
outlives any one process);
``event_consumer()`` consumes every agent event for ingest.

Delivery semantics, chosen on purpose:

* a message that does not match its contract, or is not signed with the
  configured key (``rds_bus.signing``), is logged with the reason and
  dead-lettered at once (never retried, never crash-loops the consumer);
* the message is acked only after the handler returned, i.e. after its work
  is recorded; if the process dies first, the broker redelivers it;
* a handler that raises ``CommandDropped`` (a refused fencing claim, a
  duplicate delivery of a task already running here) acks the message: the
  command must not act, and logging it is all there is to do;
* for events, ``retry_later(exc)`` says which failures are transient (the
  database is away): the event goes to a delay queue whose TTL hands it back
  to ingest, waiting longer each time (``topology.RETRY_DELAYS``), so no
  worker sleeps and the queue keeps flowing; any other exception is a bug or
  a poison message and dead-letters it.

Every dead letter goes to ``rds.dead`` with its reason in the
``x-rds-reason`` header and the queue it came from in ``x-rds-queue``.
"""
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Exchange, Queue
from kombu.message import Message
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.containers import WorkerContext
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from rds_bus import signing, topology
from rds_bus.identity import agent_host, agent_pool
from rds_contracts.base import Command
from rds_contracts.base import Message as Contract
from rds_contracts.registry import InvalidMessage, parse_command, parse_event

log = logging.getLogger(__name__)
REASON_HEADER = "x-rds-reason"
QUEUE_HEADER = "x-rds-queue"
RETRIES_HEADER = "x-rds-retries"


ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


class CommandDropped(Exception):
    """The command must not act: ack it and log why."""


def _message_type(message: Message) -> str:
    headers = message.headers or {}
    return str(headers.get(topology.TYPE_HEADER) or
               message.delivery_info.get("routing_key", "?"))


class _ValidatingConsumer(Consumer):
    """A nameko ``Consumer`` that parses the body before spawning a worker."""

    def retry_later(self, exc: BaseException) -> bool:
        return False

    def setup(self) -> None:
        super().setup()
        self.publisher = Publisher(self.container.config[AMQP_URI_CONFIG_KEY],
                                   serializer="json", use_confirms=True,
                                   declare=topology.declarations())

    def parse(self, message: Message, body: object) -> tuple[Any, ...]:
        raise NotImplementedError

    def handle_message(self, body: object, message: Message) -> None:
        try:
            args = self.parse(message, body)
        except InvalidMessage as exc:
            log.error("dead-lettering a malformed message from %s: %s",
                      self.queue.name, exc)
            self._dead_letter(message, body, "malformed: %s" % exc)
            return
        context_data = self.unpack_message_headers(message)
        try:
            self.container.spawn_worker(
                self, args, {}, context_data=context_data,
                handle_result=lambda worker_ctx, result=None, exc_info=None:
                    self._handle_result(message, body, worker_ctx, result, exc_info))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def _handle_result(self, message: Message, body: object, worker_ctx: WorkerContext,
                       result: object, exc_info: ExcInfo | None) -> tuple[object, ExcInfo | None]:
        method = worker_ctx.entrypoint.method_name
        if exc_info is None:
            self.queue_consumer.ack_message(message)
        elif issubclass(exc_info[0], CommandDropped):
            log.warning("%s dropped the command: %s", method, exc_info[1])
            self.queue_consumer.ack_message(message)
        elif self.retry_later(exc_info[1]):
            self._retry_later(message, body, method, exc_info[1])
        else:
            log.error("%s raised %r; dead-lettering the message", method, exc_info[1],
                      exc_info=exc_info)
            self._dead_letter(message, body, "%s raised %s: %s" % (
                method, exc_info[0].__name__, exc_info[1]))
        return result, exc_info

    def _republish(self, message: Message, body: object, exchange: Exchange, routing_key: str,
                   headers: dict[str, object], declare: Iterable[Queue] = ()) -> None:
        """Publish a copy (confirmed) then ack the original; on failure, redeliver it."""
        try:
            self.publisher.publish(body, exchange=exchange, routing_key=routing_key,
                                   headers=dict(message.headers or {}, **headers),
                                   declare=list(declare))
        except Exception as exc:  # the queue's own dead-letter exchange keeps it
            log.warning("could not move a message from %s (%s); rejecting it to %s",
                        self.queue.name, exc, topology.DEAD_QUEUE.name)
            try:
                message.reject(requeue=False)
            except AmqpConnectionError:  # pragma: no cover - broker gone, it redelivers
                pass
            return
        self.queue_consumer.ack_message(message)

    def _retry_later(self, message: Message, body: object, method: str,
                     exc: BaseException) -> None:
        retries = int((message.headers or {}).get(RETRIES_HEADER, 0))
        queue = topology.delay_queue(self.queue, retries)
        log.warning("%s failed with a transient error (%s); retry %d in %ss", method, exc,
                    retries + 1, topology.retry_delay(retries))
        self._republish(message, body, queue.exchange,
                        message.delivery_info.get("routing_key", ""),
                        {RETRIES_HEADER: retries + 1}, declare=[queue])

    def _dead_letter(self, message: Message, body: object, reason: str) -> None:
        if not message.channel.connection:
            return  # pragma: no cover - broker gone, it redelivers
        self._republish(message, body, topology.DEAD_EXCHANGE, "dead",
                        {REASON_HEADER: reason[:2000], QUEUE_HEADER: self.queue.name})


class CommandHandler(_ValidatingConsumer):
    """Consume one command; the handler is called with ``(command, redelivered)``."""

    def __init__(self, command: str, broadcast: bool = False, **kwargs: Any) -> None:
        self.command = command
        self.broadcast = broadcast
        super().__init__(queue=None, **kwargs)

    def setup(self) -> None:
        config = self.container.config
        pool = agent_pool(config)
        if self.broadcast:
            self.queue = topology.broadcast_queue(self.command, pool, agent_host(config))
        else:
            self.queue = topology.command_queue(self.command, pool)
        self.signer = signing.command_signer(config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)
        super().setup()

    def parse(self, message: Message, body: object) -> tuple[Command, bool]:
        name = _message_type(message)
        if name != self.command:
            raise InvalidMessage("expected command %r, got %r" % (self.command, name))
        self.signer.verify(message.delivery_info.get("routing_key", ""), name, body,
                           message.headers)
        command = parse_command(name, body)
        return (command, bool(message.delivery_info.get("redelivered")))


class EventConsumer(_ValidatingConsumer):
    """Consume every agent event; the handler is called with ``(name, event)``.

    ``retry_later(exc)`` returns True for a failure worth retrying later.
    """

    def __init__(self, retry_later: Callable[[BaseException], object] | None = None,
                 **kwargs: Any) -> None:
        self._retry_later_rule = retry_later
        super().__init__(queue=topology.INGEST_QUEUE, **kwargs)

    def setup(self) -> None:
        self.signer = signing.event_signer(self.container.config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)
        super().setup()

    def retry_later(self, exc: BaseException) -> bool:
        return self._retry_later_rule is not None and bool(self._retry_later_rule(exc))

    def parse(self, message: Message, body: object) -> tuple[str, Contract]:
        name = _message_type(message)
        self.signer.verify(message.delivery_info.get("routing_key", ""), name, body,
                           message.headers)
        return (name, parse_event(name, body))


command_handler = CommandHandler.decorator
event_consumer = EventConsumer.decorator
