"""The ingest service: a thin nameko adapter around ``rds_control.ingest``.

Events are applied one transaction each; commands they cause (automatic
retries) are published after the commit. What a database error means is
``rds_control.db_errors``: a deadlock is retried at once a few times
(``rds_control.unit``); the database being away sends the event through a
delay queue, retried with backoff until it is back; an event the database
cannot store is dead-lettered with the reason. Malformed events never reach
the handler (dead-lettered by the entrypoint).
"""
from rds_bus.entrypoints import event_consumer
from rds_bus.providers import Bus
from rds_bus.runtime import AgentRuntime
from rds_contracts import ingest
from rds_control import unit
from rds_control.db_errors import is_transient
from rds_control.ingest import apply_event
from rds_db.provider import Database


class IngestService:
    name = ingest.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()

    @event_consumer(retry_later=is_transient)
    def handle_event(self, name, event):
        """Apply one agent event to the database."""
        unit.run(self.db.session_factory, self.bus, apply_event, name, event)
