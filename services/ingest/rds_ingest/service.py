"""The ingest service: a thin nameko adapter around ``rds_control.ingest``.

Events are applied one transaction each; commands they cause (automatic
retries) are published after the commit. Database outages are transient:
the event goes back to the queue and is retried. Malformed events never
reach the handler (dead-lettered by the entrypoint).
"""
from sqlalchemy.exc import DBAPIError, OperationalError

from rds_bus.entrypoints import event_consumer
from rds_bus.providers import Bus
from rds_bus.runtime import AgentRuntime
from rds_contracts import ingest
from rds_control import unit
from rds_control.ingest import apply_event
from rds_db.provider import Database


class IngestService:
    name = ingest.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()

    @event_consumer(transient=(OperationalError, DBAPIError), retry_delay=2.0)
    def handle_event(self, name, event):
        """Apply one agent event to the database."""
        unit.run(self.db.session_factory, self.bus, apply_event, name, event)
