"""Run one control-plane operation as a unit of work.

``run(session_factory, publisher, fn, *args)`` opens a transaction, calls
``fn(session, *args)``, commits, then publishes the commands ``fn`` queued
in the outbox. If publishing fails the rows stay unsent and the pruner sends
them later; the change itself is already committed either way.
"""
import logging

from rds_control import outbox
from rds_db.session import transaction

log = logging.getLogger(__name__)


def run(session_factory, publisher, fn, *args, **kwargs):
    with transaction(session_factory) as session:
        result = fn(session, *args, **kwargs)
        ids = outbox.pending_ids(session)
    if ids and publisher is not None:
        try:
            outbox.publish_pending(session_factory, publisher, ids=ids)
        except Exception:  # the pruner's outbox relay sends them later
            log.exception("publishing %d queued command(s) failed; the pruner will retry",
                          len(ids))
    return result
