"""The nameko entrypoint that consumes agent heartbeats (``rds.pruner.heartbeats``).

Heartbeats have their own exchange and queue (``rds_bus.topology``), so no
backlog of events can delay them; the pruner consumes them with
``@heartbeat_consumer()``, the handler being called with the validated
:class:`~rds_contracts.agents.AgentHeartbeat`.

The checks are the ones of every rds consumer (``rds_bus.entrypoints``): a
message that is not a heartbeat, does not match the contract, or is not
signed with the event key is logged and dead-lettered with the reason, and a
handler that crashes dead-letters its message. One difference, on purpose:
heartbeats perish, so a failure ``drop_if(exc)`` calls transient (the
database is away) acks the heartbeat with a warning instead of sending it
through a delay queue: the agent's next heartbeat, a few seconds later, says
the same and newer. A redelivered heartbeat is applied again harmlessly
(an agent's row only moves forward in time: ``rds_control.heartbeats``).
"""
import logging
from collections.abc import Callable
from typing import Any

from kombu.message import Message

from rds_bus import signing, topology
from rds_bus.entrypoints import _message_type, _ValidatingConsumer
from rds_contracts.agents import AGENT_HEARTBEAT
from rds_contracts.registry import InvalidMessage, parse_event

log = logging.getLogger(__name__)


class HeartbeatConsumer(_ValidatingConsumer):
    """Consume agent heartbeats; the handler is called with ``(heartbeat,)``."""

    def __init__(self, drop_if: Callable[[BaseException], bool] | None = None,
                 **kwargs: Any) -> None:
        self._drop_if = drop_if
        super().__init__(queue=topology.HEARTBEAT_QUEUE, **kwargs)

    def setup(self) -> None:
        self.signer = signing.event_signer(self.container.config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)
        super().setup()

    def parse(self, message: Message, body: Any) -> tuple[Any, ...]:
        name = _message_type(message)
        if name != AGENT_HEARTBEAT:
            raise InvalidMessage("expected %r on %s, got %r"
                                 % (AGENT_HEARTBEAT, self.queue.name, name))
        self.signer.verify(message.delivery_info.get("routing_key", ""), name, body,
                           message.headers)
        return (parse_event(name, body),)

    def _handle_result(self, message: Message, body: Any, worker_ctx: Any, result: Any,
                       exc_info: Any) -> tuple[Any, Any]:
        if exc_info is not None and self._drop_if is not None and self._drop_if(exc_info[1]):
            log.warning("dropping a heartbeat that could not be applied now (%s: %s); "
                        "the next one replaces it", exc_info[0].__name__, exc_info[1])
            self.queue_consumer.ack_message(message)
            return result, exc_info
        return super()._handle_result(message, body, worker_ctx, result, exc_info)


heartbeat_consumer = HeartbeatConsumer.decorator
