"""Run one control-plane operation as a unit of work.

``run(session_factory, publisher, fn, *args)`` opens a transaction, calls
``fn(session, *args)``, commits, then publishes the commands ``fn`` queued
in the outbox. If publishing fails the rows stay unsent and the pruner sends
them later; the change itself is already committed either way.

A deadlock or serialization failure rolls the transaction back and runs
``fn`` again at once, up to ``CONFLICT_RETRIES`` times (``fn`` must only
touch the database, which every control-plane operation does); other errors
propagate (see ``rds_control.db_errors`` for what the callers do with them).
"""
import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from rds_control import outbox
from rds_control.db_errors import DbFailure, classify
from rds_db.session import transaction

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 3

P = ParamSpec("P")
R = TypeVar("R")


def run(session_factory: sessionmaker[Session], publisher: outbox.CommandPublisher | None,
        fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    attempt = 0
    while True:
        try:
            return _run_once(session_factory, publisher, fn, *args, **kwargs)
        except Exception as exc:
            if classify(exc) != DbFailure.CONFLICT or attempt >= CONFLICT_RETRIES:
                raise
            attempt += 1
            log.warning("%s met a concurrent transaction (%s); retry %d of %d",
                        getattr(fn, "__name__", fn), exc.__class__.__name__, attempt,
                        CONFLICT_RETRIES)


def _run_once(session_factory: sessionmaker[Session],
              publisher: outbox.CommandPublisher | None,
              fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
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
