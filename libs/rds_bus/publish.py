"""Publishing commands (web side) and events (agent side).

Both go through nameko's core publisher: persistent delivery, publisher
confirms and ``mandatory`` routing, so ``publish`` returns only once the
broker has the message in a queue. The target queue is declared first, so a
command sent before any agent of its pool has started waits for one.
"""
from nameko.amqp.publish import Publisher

from rds_bus import topology
from rds_contracts.registry import command_name, event_name


class BusPublisher:
    """A thread-safe publisher of rds commands and events (no eventlet needed)."""

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri
        self._publisher = Publisher(amqp_uri, serializer="json", mandatory=True,
                                    use_confirms=True, declare=topology.declarations())

    def send_command(self, command, pool):
        """Send ``command`` (a contract instance) to the agents of ``pool``."""
        name = command_name(command)
        self.publish_raw(topology.COMMANDS_EXCHANGE, topology.command_routing_key(name, pool),
                         name, command.to_wire(), declare=[topology.command_queue(name, pool)])

    def broadcast_command(self, command, pool):
        """Send ``command`` to every copy of its service in ``pool``."""
        name = command_name(command)
        self.publish_raw(topology.BROADCAST_EXCHANGE, topology.command_routing_key(name, pool),
                         name, command.to_wire(), mandatory=False)

    def send_event(self, event):
        name = event_name(event)
        self.publish_raw(topology.EVENTS_EXCHANGE, name, name, event.to_wire())

    def publish_raw(self, exchange, routing_key, name, body, declare=(), mandatory=True):
        self._publisher.publish(body, exchange=exchange, routing_key=routing_key,
                                headers={topology.TYPE_HEADER: name},
                                declare=list(declare), mandatory=mandatory)
