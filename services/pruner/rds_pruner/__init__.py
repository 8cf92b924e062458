"""pruner: timers of the web side (outbox relay, reaper; retention later)."""
