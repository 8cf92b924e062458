"""The ingest service: a thin nameko adapter around ``rds_control.ingest``.

Events arrive in batches (``rds_bus.batches``: up to ``RDS_INGEST_BATCH_SIZE``
events, or what arrived within ``RDS_INGEST_BATCH_WAIT`` seconds) and are
applied in one transaction per batch; commands they cause (automatic
retries) are published after the commit, and the messages are acked only
then. What a database error means is ``rds_control.db_errors``: a deadlock
is retried at once a few times (``rds_control.unit``); a batch that still
fails is applied event by event, so each event meets its own fate: the
database being away sends it through a delay queue, retried with backoff
until it is back; an event the database cannot store, or that is rejected
(unknown task, beyond its task), is dead-lettered with the reason. Malformed
events never reach the handler (dead-lettered by the entrypoint).
"""
from collections.abc import Sequence

from rds_bus.batches import batch_event_consumer
from rds_bus.providers import Bus
from rds_bus.runtime import AgentRuntime
from rds_contracts import ingest
from rds_control.db_errors import is_transient
from rds_control.ingest import NamedEvent, Outcome, apply_events
from rds_db.provider import Database


class IngestService:
    name = ingest.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()

    @batch_event_consumer(retry_later=is_transient)
    def handle_events(self, events: Sequence[NamedEvent]) -> list[Outcome]:
        """Apply a batch of agent events; one outcome per event."""
        return apply_events(self.db.session_factory, self.bus, events)
