"""Publishing commands (web side) and events (agent side).

Both go through nameko's core publisher: persistent delivery, publisher
confirms and ``mandatory`` routing, so ``publish`` returns only once the
broker has the message in a queue. The target queue is declared first, so a
command sent before any agent of its pool has started waits for one.

Commands are signed with the command key and events (heartbeats too) with the
event key (``rds_bus.signing``) when the publisher has them. Heartbeats go to
their own exchange (``rds.heartbeats``), never behind the events.
"""
from collections.abc import Iterable, Mapping
from typing import Any

from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher

from rds_bus import signing, topology
from rds_contracts.agents import AGENT_HEARTBEAT, AgentHeartbeat
from rds_contracts.base import Command, Message
from rds_contracts.registry import command_name, event_name

COMMAND, EVENT = signing.COMMAND, signing.EVENT
#: Exchanges whose messages are events (signed with the event key).
EVENT_EXCHANGES = frozenset({topology.EVENTS_EXCHANGE.name, topology.HEARTBEATS_EXCHANGE.name})


class BusPublisher:
    """A thread-safe publisher of rds commands and events (no eventlet needed)."""

    def __init__(self, amqp_uri: str, command_key: str | None = None,
                 event_key: str | None = None) -> None:
        self.amqp_uri = amqp_uri
        self.signers = {COMMAND: signing.Signer(command_key, signing.COMMAND),
                        EVENT: signing.Signer(event_key, signing.EVENT)}
        self._publisher = Publisher(amqp_uri, serializer="json", mandatory=True,
                                    use_confirms=True, declare=topology.declarations())

    def send_command(self, command: Command, pool: str) -> None:
        """Send ``command`` (a contract instance) to the agents of ``pool``."""
        name = command_name(command)
        self.publish_raw(topology.COMMANDS_EXCHANGE, topology.command_routing_key(name, pool),
                         name, command.to_wire(), declare=[topology.command_queue(name, pool)])

    def broadcast_command(self, command: Command, pool: str) -> None:
        """Send ``command`` to every copy of its service in ``pool``."""
        name = command_name(command)
        self.publish_raw(topology.BROADCAST_EXCHANGE, topology.command_routing_key(name, pool),
                         name, command.to_wire(), mandatory=False)

    def send_event(self, event: Message) -> None:
        name = event_name(event)
        self.publish_raw(topology.EVENTS_EXCHANGE, name, name, event.to_wire())

    def send_heartbeat(self, heartbeat: AgentHeartbeat) -> None:
        """Announce an agent copy on the heartbeat path (``rds.pruner.heartbeats``)."""
        self.publish_raw(topology.HEARTBEATS_EXCHANGE, AGENT_HEARTBEAT, AGENT_HEARTBEAT,
                         heartbeat.to_wire(), declare=[topology.HEARTBEAT_QUEUE])

    @classmethod
    def from_config(cls, config: Mapping[str, Any], amqp_uri: str | None = None
                    ) -> "BusPublisher":
        """A publisher with the AMQP URI and bus keys of a service's config."""
        return cls(amqp_uri or config["AMQP_URI"], command_key=config.get(signing.COMMAND_KEY),
                   event_key=config.get(signing.EVENT_KEY))

    def publish_raw(self, exchange: Exchange, routing_key: str, name: str, body: object,
                    declare: Iterable[Exchange | Queue] = (), mandatory: bool = True) -> None:
        signer = self.signers[EVENT if exchange.name in EVENT_EXCHANGES else COMMAND]
        headers = {topology.TYPE_HEADER: name, **signer.headers(routing_key, name, body)}
        self._publisher.publish(body, exchange=exchange, routing_key=routing_key,
                                headers=headers, declare=list(declare), mandatory=mandatory)
