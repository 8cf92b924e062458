"""Waiting for changes without polling: PostgreSQL LISTEN/NOTIFY fan-out.

Every control-plane change appends to the ``changes`` table and notifies
``rds_changes`` at commit, with the newest id and the kinds of change in the
payload (``rds_db.models.changes``). Each web process runs one listener thread
(started on first use) holding a dedicated connection. Request threads block
on :meth:`ChangeHub.wait` until a change newer than the one they have seen
arrives (the API's long-polls); the process's stream reader
(``rds_web.ui.fanout``) is called back with each notification's kinds, so it
reads the feed only when a change concerns an open page.
"""
import select
import threading
from collections.abc import Callable

import psycopg2
from flask import current_app

from rds_db.models.changes import NOTIFY_CHANNEL, parse_notify_payload

EXTENSION = "rds_changes"

#: Called with the kinds of the changes just notified (None: any kind).
Listener = Callable[[frozenset[str] | None], None]


class ChangeHub:
    def __init__(self, database_url: str) -> None:
        self.dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
        self._condition = threading.Condition()
        self._latest: int | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._listeners: list[Listener] = []

    def start(self) -> None:
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, daemon=True,
                                                name="rds-change-listener")
                self._thread.start()
        self._started.wait(10)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (on the listener thread: it must not block) for each batch."""
        with self._condition:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._condition:
            self._listeners.remove(listener)

    def _listen(self) -> None:
        while True:
            try:
                connection = psycopg2.connect(self.dsn)
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute("LISTEN %s" % NOTIFY_CHANNEL)
                    cursor.execute("SELECT coalesce(max(id), 0) FROM changes")
                    row = cursor.fetchone()
                    self._publish(row[0] if row else 0, None)
                self._started.set()
                while True:
                    if select.select([connection], [], [], 30) == ([], [], []):
                        continue
                    connection.poll()
                    newest: int | None = None
                    kinds: set[str] | None = set()
                    while connection.notifies:
                        parsed = parse_notify_payload(connection.notifies.pop(0).payload)
                        if parsed is None:
                            continue
                        newest = max(newest or 0, parsed[0])
                        if kinds is not None:
                            kinds = None if parsed[1] is None else kinds | parsed[1]
                    if newest is not None:
                        self._publish(newest, None if kinds is None else frozenset(kinds))
            except psycopg2.Error:
                self._started.set()
                self._publish(0, None)  # we may have missed notifications: look anyway
                threading.Event().wait(1)  # database away: reconnect shortly

    def _publish(self, change_id: int, kinds: frozenset[str] | None) -> None:
        with self._condition:
            if self._latest is None or change_id > self._latest:
                self._latest = change_id
                self._condition.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(kinds)

    def latest(self) -> int:
        with self._condition:
            return self._latest or 0

    def wait(self, after_id: int, timeout: float) -> int:
        """Block until a change newer than ``after_id`` exists (or timeout); return newest id."""
        self.start()
        with self._condition:
            self._condition.wait_for(lambda: (self._latest or 0) > after_id, timeout)
            return self._latest or 0


def get_hub() -> ChangeHub:
    hub = current_app.extensions.get(EXTENSION)
    if hub is None:  # two threads may race here: setdefault keeps exactly one hub
        hub = current_app.extensions.setdefault(
            EXTENSION, ChangeHub(current_app.config["DATABASE_URL"]))
    return hub
