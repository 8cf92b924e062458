"""The ingest service consumes every agent event (queue ``rds.ingest.events``).

``ingest_probe`` is the one event not sent by an agent: the pruner sends one
every few seconds through the events queue, and ingest records the newest
one applied. Its send time tells how far behind ingest is (everything
published before it has been applied), which is how the reaper knows the
queue's age (``rds_control.ingest_lag``).
"""
from datetime import datetime

from pydantic import Field

from rds_contracts.base import Message

SERVICE_NAME = "ingest"
INGEST_PROBE = "ingest_probe"


class IngestProbe(Message):
    #: the pruner copy that sent it (``<host>/pruner/<pid>``)
    sender: str = Field(min_length=1, max_length=200)
    #: when it was published, by the sender's clock
    at: datetime
