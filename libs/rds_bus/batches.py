"""Consuming agent events in batches (the ingest service's entrypoint).

``batch_event_consumer(retry_later=...)`` checks each message like
``rds_bus.entrypoints.event_consumer`` (a malformed or unsigned one is
dead-lettered at once) and hands the valid ones to the handler in batches:
as many as arrived within ``RDS_INGEST_BATCH_WAIT`` seconds of the first,
at most ``RDS_INGEST_BATCH_SIZE``. One batch is handled at a time; the
broker keeps two batches' worth of messages in flight to the consumer
(its prefetch), so the next batch is ready when one is done.

The handler gets ``[(name, event), ...]`` and returns one outcome per event:
None (done: the message is acked), or the exception that stopped that event
(``retry_later(exc)``: through the delay queue; any other: dead-lettered
with the reason). If the handler itself raises, every message of the batch
gets that exception as its outcome. Nothing is acked before the handler
returned, i.e. before its transaction committed: if the process dies, the
broker redelivers the batch. Messages are checked in delivery order as they
arrive (no worker per message), so once a batch is settled every earlier
delivery is too, and its applied messages are acked with one ``multiple`` ack.
"""
import logging
import time
from collections.abc import Callable
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from eventlet.event import Event
from eventlet.queue import Empty, LightQueue
from kombu.message import Message as AmqpMessage
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer

from rds_bus.entrypoints import EventConsumer
from rds_contracts.registry import InvalidMessage
from rds_settings.nameko import settings_of

log = logging.getLogger(__name__)

#: A message waiting for its batch: ``(message, body, (name, event))``.
Pending = tuple[AmqpMessage, Any, tuple[str, Any]]


class BatchQueueConsumer(QueueConsumer):
    """nameko's queue consumer with a prefetch of two batches (its own connection),
    handing each message to its consumer at once, in delivery order (no thread per
    message: checking one is quick, and the order lets a batch be acked at once)."""

    @property
    def prefetch_count(self) -> int:
        return 2 * settings_of(self.container.config).ingest_batch_size

    def handle_message(self, provider: Any, body: Any, message: AmqpMessage) -> None:
        provider.handle_message(body, message)


class BatchEventConsumer(EventConsumer):
    """Consume every agent event; the handler is called with a list of ``(name, event)``."""

    queue_consumer = BatchQueueConsumer()

    def setup(self) -> None:
        super().setup()
        settings = settings_of(self.container.config)
        self.batch_size: int = settings.ingest_batch_size
        self.batch_wait: float = settings.ingest_batch_wait
        self.pending: LightQueue = LightQueue()

    def start(self) -> None:
        super().start()
        self.container.spawn_managed_thread(self._run, identifier="%s batches" % self)

    def handle_message(self, body: Any, message: AmqpMessage) -> None:
        try:
            args = self.parse(message, body)
        except InvalidMessage as exc:
            log.error("dead-lettering a malformed message from %s: %s", self.queue.name, exc)
            self._dead_letter(message, body, "malformed: %s" % exc)
            return
        except Exception as exc:  # a bug: it must not stop the consumer
            log.exception("dead-lettering a message from %s that could not be checked",
                          self.queue.name)
            self._dead_letter(message, body, "unreadable: %r" % exc)
            return
        self.pending.put((message, body, args))

    def _run(self) -> None:
        while True:
            waited = time.monotonic()
            batch = self._next_batch()
            started = time.monotonic()
            try:
                self._handle(batch)
                log.debug("%d events handled in %.1f ms (gathered in %.1f ms)", len(batch),
                          (time.monotonic() - started) * 1000, (started - waited) * 1000)
            except ContainerBeingKilled:
                for message, _, _ in batch:
                    self.queue_consumer.requeue_message(message)
                return

    def _next_batch(self) -> list[Pending]:
        """Wait for a message, then for more: up to the batch size or the batch wait."""
        batch = [self.pending.get()]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                batch.append(self.pending.get(timeout=left) if left > 0
                             else self.pending.get_nowait())
            except Empty:
                break
        return batch

    def _handle(self, batch: list[Pending]) -> None:
        """Run the handler on ``batch`` in a worker; settle every message once it is done."""
        done = Event()

        def settle(worker_ctx: Any, result: Any = None,
                   exc_info: Any = None) -> tuple[Any, Any]:
            try:
                outcomes = [exc_info[1]] * len(batch) if exc_info is not None else result
                if not isinstance(outcomes, list) or len(outcomes) != len(batch):
                    outcomes = [ValueError("the handler returned %r for %d events"
                                           % (type(result).__name__, len(batch)))] * len(batch)
                applied = []
                for (message, body, _), outcome in zip(batch, outcomes, strict=True):
                    if outcome is None:
                        applied.append(message)
                    else:
                        self._settle(message, body, worker_ctx.entrypoint.method_name, outcome)
                _ack_up_to(applied)
            finally:
                done.send(None)
            return result, exc_info

        self.container.spawn_worker(self, ([args for _, _, args in batch],), {},
                                    context_data={}, handle_result=settle)
        done.wait()

    def _settle(self, message: AmqpMessage, body: Any, method: str,
                outcome: BaseException) -> None:
        if self.retry_later(outcome):
            self._retry_later(message, body, method, outcome)
        else:
            log.error("%s: %s: %s; dead-lettering the message", method,
                      type(outcome).__name__, outcome)
            self._dead_letter(message, body, "%s raised %s: %s" % (
                method, type(outcome).__name__, outcome))


def _ack_up_to(messages: list[AmqpMessage]) -> None:
    """Ack ``messages`` with one ``multiple`` ack per channel, of the last one.

    Safe because every message delivered before it on that channel is settled
    by now: they are checked in delivery order, a malformed one is settled at
    once, and batches are handled one at a time, in order.
    """
    last: dict[int, AmqpMessage] = {}
    for message in messages:
        known = last.get(id(message.channel))
        if known is None or message.delivery_tag > known.delivery_tag:
            last[id(message.channel)] = message
    for message in last.values():
        if message.channel.connection:  # else the broker has taken them back already
            try:
                message.ack(multiple=True)
            except (AmqpConnectionError, ConnectionError):  # pragma: no cover - closing
                pass


batch_event_consumer: Callable[..., Any] = BatchEventConsumer.decorator
