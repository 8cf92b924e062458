"""ingest: applies every agent event to the database, idempotently (web side)."""
