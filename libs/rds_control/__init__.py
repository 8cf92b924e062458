"""The control plane: what web, ingest and pruner do to the database.

Plain functions over a SQLAlchemy session (no Flask, no nameko): create a
release, activate it, apply an agent event, reap a silent task. Each one
validates its input, changes rows under the locks it needs, writes the
audit entry and queues the commands it causes in the outbox, all in the
caller's transaction. The caller commits, then flushes the outbox.
"""
