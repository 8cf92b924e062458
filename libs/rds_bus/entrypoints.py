"""nameko entrypoints that check every message against its contract.

``command_handler(name)`` consumes one command from the agent pool's shared
queue (or, with ``broadcast=True``, from the copy's private queue);
``event_consumer()`` consumes every agent event for ingest.

Delivery semantics, chosen on purpose:

* a message that does not match its contract, or is not signed with the
  configured key (``rds_bus.signing``), is logged with the reason and
  dead-lettered at once (never retried, never crash-loops the consumer);
* the message is acked only after the handler returned, i.e. after its work
  is recorded; if the process dies first, the broker redelivers it;
* an exception listed in ``transient`` (e.g. the database is away) puts the
  message back after ``retry_delay`` seconds; any other exception is a bug or
  a poison message and dead-letters it.
"""
import logging

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from rds_bus import signing, topology
from rds_bus.identity import agent_name, agent_pool
from rds_contracts.registry import InvalidMessage, parse_command, parse_event

log = logging.getLogger(__name__)


def _message_type(message):
    headers = message.headers or {}
    return headers.get(topology.TYPE_HEADER) or message.delivery_info.get("routing_key", "?")


class _ValidatingConsumer(Consumer):
    """A nameko ``Consumer`` that parses the body before spawning a worker."""

    transient = ()
    retry_delay = 1.0

    def parse(self, message, body):
        raise NotImplementedError

    def handle_message(self, body, message):
        try:
            args = self.parse(message, body)
        except InvalidMessage as exc:
            log.error("dead-lettering a malformed message from %s: %s",
                      self.queue.name, exc)
            self._dead_letter(message)
            return
        context_data = self.unpack_message_headers(message)
        try:
            self.container.spawn_worker(
                self, args, {}, context_data=context_data,
                handle_result=lambda worker_ctx, result=None, exc_info=None:
                    self._handle_result(message, worker_ctx, result, exc_info))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def _handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
        elif self.transient and issubclass(exc_info[0], self.transient):
            log.warning("%s failed with a transient error (%s); retrying in %.1fs",
                        worker_ctx.entrypoint.method_name, exc_info[1], self.retry_delay)
            eventlet.sleep(self.retry_delay)
            self.queue_consumer.requeue_message(message)
        else:
            log.error("%s raised %r; dead-lettering the message",
                      worker_ctx.entrypoint.method_name, exc_info[1],
                      exc_info=exc_info)
            self._dead_letter(message)
        return result, exc_info

    def _dead_letter(self, message):
        if message.channel.connection:
            try:
                message.reject(requeue=False)
            except AmqpConnectionError:  # pragma: no cover - broker gone, it redelivers
                pass


class CommandHandler(_ValidatingConsumer):
    """Consume one command; the handler is called with ``(command, redelivered)``."""

    def __init__(self, command, broadcast=False, **kwargs):
        self.command = command
        self.broadcast = broadcast
        super().__init__(queue=None, **kwargs)

    def setup(self):
        config = self.container.config
        pool = agent_pool(config)
        if self.broadcast:
            self.queue = topology.broadcast_queue(
                self.command, pool, agent_name(config, self.container.service_name))
        else:
            self.queue = topology.command_queue(self.command, pool)
        self.signer = signing.command_signer(config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)
        super().setup()

    def parse(self, message, body):
        name = _message_type(message)
        if name != self.command:
            raise InvalidMessage("expected command %r, got %r" % (self.command, name))
        self.signer.verify(message.delivery_info.get("routing_key", ""), name, body,
                           message.headers)
        command = parse_command(name, body)
        return (command, bool(message.delivery_info.get("redelivered")))


class EventConsumer(_ValidatingConsumer):
    """Consume every agent event; the handler is called with ``(name, event)``."""

    def __init__(self, transient=(), retry_delay=1.0, **kwargs):
        self.transient = tuple(transient)
        self.retry_delay = retry_delay
        super().__init__(queue=topology.INGEST_QUEUE, **kwargs)

    def setup(self):
        self.signer = signing.event_signer(self.container.config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)
        super().setup()

    def parse(self, message, body):
        name = _message_type(message)
        self.signer.verify(message.delivery_info.get("routing_key", ""), name, body,
                           message.headers)
        return (name, parse_event(name, body))


command_handler = CommandHandler.decorator
event_consumer = EventConsumer.decorator
