"""Exchanges and queues of rds.

* ``rds.commands`` (topic): commands for a pool of agents. Routing key
  ``<command>.<pool>``; one durable queue per command and pool
  (``rds.<service>.<command>.<pool>``) that every copy of the service in that
  pool shares, so one copy takes each command.
* ``rds.broadcast`` (topic): commands every host must see (cancel). Each
  host of a pool has its own durable queue, named by pool and host (never by
  process id), so cancels sent while the host's killer restarts wait for it;
  the queue expires a week after the host's last consumer is gone.
* ``rds.delay.<queue>.<N>s`` (fanout, one per retry delay of a queue, see
  ``RETRY_DELAYS``): a message waits in the queue of the same name for its
  TTL, then is dead-lettered back to the exchange it first came through, with
  its original routing key (so its signature still verifies): ingest retries
  a transient failure without sleeping.
* ``rds.events`` (topic): agent events, routing key = event name, all
  consumed by ingest from ``rds.ingest.events``.
* ``rds.heartbeats`` (topic): agent heartbeats only (routing key
  ``agent_heartbeat``), consumed by the pruner from ``rds.pruner.heartbeats``:
  a heartbeat never waits behind a backlog of events. Heartbeats perish: the
  queue drops any older than ``HEARTBEAT_TTL_MS`` (nothing dead-lettered), so a
  stopped pruner does not leave a pile of stale ones.
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
HEARTBEATS_EXCHANGE = Exchange("rds.heartbeats", type="topic", durable=True)

DEAD_QUEUE = Queue("rds.dead", exchange=DEAD_EXCHANGE, routing_key="#", durable=True)

_DEAD_LETTERED = {"x-dead-letter-exchange": DEAD_EXCHANGE.name}
BROADCAST_QUEUE_EXPIRES_MS = 7 * 24 * 3600 * 1000
#: Seconds a transient failure waits before its next attempt (the last repeats).
RETRY_DELAYS = (1, 2, 5, 10, 30)

INGEST_QUEUE = Queue("rds.ingest.events", exchange=EVENTS_EXCHANGE, routing_key="#",
                     durable=True, queue_arguments=_DEAD_LETTERED)

#: A heartbeat older than this says nothing any more (agents beat every few seconds).
HEARTBEAT_TTL_MS = 10 * 60 * 1000
HEARTBEAT_QUEUE = Queue("rds.pruner.heartbeats", exchange=HEARTBEATS_EXCHANGE, routing_key="#",
                        durable=True, queue_arguments={"x-message-ttl": HEARTBEAT_TTL_MS})

POOL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_pool(pool: object) -> str:
    if not isinstance(pool, str) or not POOL_RE.fullmatch(pool):
        raise ValueError("agent pool must match %s (got %r)" % (POOL_RE.pattern, pool))
    return pool


def command_routing_key(command: str, pool: str) -> str:
    return "%s.%s" % (command, check_pool(pool))


def command_queue(command: str, pool: str) -> Queue:
    """The shared queue of one command for one agent pool."""
    service = COMMAND_SERVICE[command]
    return Queue("rds.%s.%s.%s" % (service, command, check_pool(pool)),
                 exchange=COMMANDS_EXCHANGE, routing_key=command_routing_key(command, pool),
                 durable=True, queue_arguments=_DEAD_LETTERED)


def broadcast_queue(command: str, pool: str, host: str) -> Queue:
    """The queue of one host of a pool for a broadcast command (shared by its copies)."""
    service = COMMAND_SERVICE[command]
    safe_host = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
    return Queue("rds.%s.%s.%s.%s" % (service, command, check_pool(pool), safe_host),
                 exchange=BROADCAST_EXCHANGE, routing_key=command_routing_key(command, pool),
                 durable=True,
                 queue_arguments=dict(_DEAD_LETTERED, **{"x-expires": BROADCAST_QUEUE_EXPIRES_MS}))


def retry_delay(retries: int) -> int:
    """Seconds before attempt ``retries + 1`` (the last delay repeats)."""
    return RETRY_DELAYS[min(retries, len(RETRY_DELAYS) - 1)]


def delay_queue(origin: Queue, retries: int) -> Queue:
    """Where a message of queue ``origin`` waits before its attempt ``retries + 1``.

    Publish to its exchange with the message's original routing key.
    """
    seconds = retry_delay(retries)
    name = "rds.delay.%s.%ds" % (origin.name, seconds)
    return Queue(name, exchange=Exchange(name, type="fanout", durable=True), durable=True,
                 queue_arguments={"x-message-ttl": seconds * 1000,
                                  "x-dead-letter-exchange": origin.exchange.name})


def declarations() -> list[Exchange | Queue]:
    """Everything a publisher declares before its first message."""
    return [COMMANDS_EXCHANGE, BROADCAST_EXCHANGE, EVENTS_EXCHANGE, DEAD_EXCHANGE,
            HEARTBEATS_EXCHANGE, DEAD_QUEUE, INGEST_QUEUE, HEARTBEAT_QUEUE]
