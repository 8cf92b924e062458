"""The ingest service consumes every agent event (queue ``rds.ingest.events``)."""
SERVICE_NAME = "ingest"
