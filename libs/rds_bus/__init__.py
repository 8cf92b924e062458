"""How rds messages travel over RabbitMQ.

``topology`` names every exchange and queue (one place for both sides),
``publish`` sends commands and events (persistent, confirmed, with their
queues declared so nothing is dropped before a consumer exists), and
``entrypoints`` holds the nameko entrypoints that validate each message
against its contract before any handler sees it, dead-lettering the ones
that do not match.
"""
