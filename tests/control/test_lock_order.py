"""Ingest and cancel lock a release and its task in the same order: release first.

Ingest used to lock the task row, then (through the foreign key of its change
row) the release; cancel locks the release, then the task: run together they
deadlocked. Here ingest is held right after it took its locks while cancel
starts on another connection, then let go: both must finish.
"""
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from rds_contracts import agents
from rds_control import ingest, releases
from rds_db.models import Task
from rds_db.session import transaction

WAIT = 30.0


class Worker(threading.Thread):
    """Runs ``fn(session)`` in its own transaction; keeps its error and backend pid."""

    def __init__(self, session_factory: sessionmaker[Session],
                 fn: Callable[[Session], Any]) -> None:
        super().__init__(daemon=True)
        self.session_factory, self.fn = session_factory, fn
        self.error: BaseException | None = None
        self.pid: int | None = None
        self.has_pid = threading.Event()

    def run(self) -> None:
        try:
            with transaction(self.session_factory) as session:
                self.pid = session.scalar(text("SELECT pg_backend_pid()"))
                self.has_pid.set()
                self.fn(session)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.has_pid.set()


def wait_until_blocked(session_factory: sessionmaker[Session], pid: int) -> None:
    """Return once backend ``pid`` waits for a lock (fails after WAIT seconds)."""
    stop = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        with transaction(session_factory) as session:
            if session.scalar(text("SELECT count(*) FROM pg_locks WHERE pid = :pid "
                                   "AND NOT granted"), {"pid": pid}):
                return
        stop.wait(0.01)
    pytest.fail("backend %d never waited for a lock" % pid)


def test_cancel_and_ingest_of_one_build_run_together(session_factory, committed_build,
                                                     monkeypatch):
    release_id, task, run_id, user = committed_build
    locked, go = threading.Event(), threading.Event()
    load = ingest._Batch._load

    def load_then_hold(batch: Any) -> None:
        load(batch)
        locked.set()
        assert go.wait(WAIT), "the test never let ingest go on"
    monkeypatch.setattr(ingest._Batch, "_load", load_then_hold)

    step = agents.TaskStep(task_id=task.id, run_id=run_id, seq=2, step="checkout",
                           state="started")  # a fact that locks the task (its steps change)
    applying = Worker(session_factory,
                      lambda session: ingest.apply_event(session, agents.TASK_STEP, step))
    applying.start()
    assert locked.wait(WAIT), applying.error
    cancelling = Worker(session_factory,
                        lambda session: releases.cancel_release(session, release_id, user))
    cancelling.start()
    assert cancelling.has_pid.wait(WAIT) and cancelling.pid is not None, cancelling.error
    wait_until_blocked(session_factory, cancelling.pid)  # on the release ingest holds
    go.set()
    applying.join(WAIT)
    cancelling.join(WAIT)
    assert not applying.is_alive() and not cancelling.is_alive()
    assert applying.error is None and cancelling.error is None, (applying.error,
                                                                  cancelling.error)
    with transaction(session_factory) as session:
        stored = session.get(Task, task.id)
        assert stored is not None and "started" in stored.steps["checkout"]
        assert stored.status == "cancelling"
        assert stored.release is not None and stored.release.status == "cancelling"
