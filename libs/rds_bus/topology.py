"""Exchanges and queues of rds.

* ``rds.commands`` (topic): commands for a pool of agents. Routing key
  ``<command>.<pool>``; one durable queue per command and pool
  (``rds.<service>.<command>.<pool>``) that every copy of the service in that
  pool shares, so one copy takes each command.
* ``rds.broadcast`` (topic): commands every copy must see (cancel). Each copy
  has its own durable queue that expires an hour after the copy is gone.
* ``rds.events`` (topic): agent events, routing key = event name, all
  consumed by ingest from ``rds.ingest.events``.
* ``rds.dead`` (fanout) → queue ``rds.dead``: messages rejected as malformed
  or whose handler crashed; inspect them with the RabbitMQ management UI.

Every message carries its contract name in the ``rds-type`` header.
"""
import re

from kombu import Exchange, Queue

from rds_contracts.registry import COMMAND_SERVICE

TYPE_HEADER = "rds-type"

COMMANDS_EXCHANGE = Exchange("rds.commands", type="topic", durable=True)
BROADCAST_EXCHANGE = Exchange("rds.broadcast", type="topic", durable=True)
EVENTS_EXCHANGE = Exchange("rds.events", type="topic", durable=True)
DEAD_EXCHANGE = Exchange("rds.dead", type="fanout", durable=True)

DEAD_QUEUE = Queue("rds.dead", exchange=DEAD_EXCHANGE, routing_key="#", durable=True)

_DEAD_LETTERED = {"x-dead-letter-exchange": DEAD_EXCHANGE.name}
BROADCAST_QUEUE_EXPIRES_MS = 3600 * 1000

INGEST_QUEUE = Queue("rds.ingest.events", exchange=EVENTS_EXCHANGE, routing_key="#",
                     durable=True, queue_arguments=_DEAD_LETTERED)

POOL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_pool(pool):
    if not isinstance(pool, str) or not POOL_RE.fullmatch(pool):
        raise ValueError("agent pool must match %s (got %r)" % (POOL_RE.pattern, pool))
    return pool


def command_routing_key(command, pool):
    return "%s.%s" % (command, check_pool(pool))


def command_queue(command, pool):
    """The shared queue of one command for one agent pool."""
    service = COMMAND_SERVICE[command]
    return Queue("rds.%s.%s.%s" % (service, command, check_pool(pool)),
                 exchange=COMMANDS_EXCHANGE, routing_key=command_routing_key(command, pool),
                 durable=True, queue_arguments=_DEAD_LETTERED)


def broadcast_queue(command, pool, agent):
    """The private queue of one agent copy for a broadcast command."""
    service = COMMAND_SERVICE[command]
    safe_agent = re.sub(r"[^A-Za-z0-9_.-]", "_", agent)
    return Queue("rds.%s.%s.%s.%s" % (service, command, check_pool(pool), safe_agent),
                 exchange=BROADCAST_EXCHANGE, routing_key=command_routing_key(command, pool),
                 durable=True,
                 queue_arguments=dict(_DEAD_LETTERED, **{"x-expires": BROADCAST_QUEUE_EXPIRES_MS}))


def declarations():
    """Everything a publisher declares before its first message."""
    return [COMMANDS_EXCHANGE, BROADCAST_EXCHANGE, EVENTS_EXCHANGE, DEAD_EXCHANGE,
            DEAD_QUEUE, INGEST_QUEUE]
