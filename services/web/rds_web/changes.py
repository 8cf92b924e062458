"""Waiting for changes without polling: PostgreSQL LISTEN/NOTIFY fan-out.

Every control-plane change appends to the ``changes`` table and notifies
``rds_changes`` at commit. Each web process runs one listener thread (started
on first use) holding a dedicated connection; request threads block on
:meth:`ChangeHub.wait` until a change newer than the one they have seen
arrives. Long-poll API calls and the UI's event stream are built on it.
"""
import select
import threading

import psycopg2
from flask import current_app

from rds_db.models.changes import NOTIFY_CHANNEL

EXTENSION = "rds_changes"


class ChangeHub:
    def __init__(self, database_url):
        self.dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
        self._condition = threading.Condition()
        self._latest = None
        self._thread = None
        self._started = threading.Event()

    def start(self):
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, daemon=True,
                                                name="rds-change-listener")
                self._thread.start()
        self._started.wait(10)

    def _listen(self):
        while True:
            try:
                connection = psycopg2.connect(self.dsn)
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute("LISTEN %s" % NOTIFY_CHANNEL)
                    cursor.execute("SELECT coalesce(max(id), 0) FROM changes")
                    self._publish(cursor.fetchone()[0])
                self._started.set()
                while True:
                    if select.select([connection], [], [], 30) == ([], [], []):
                        continue
                    connection.poll()
                    newest = None
                    while connection.notifies:
                        payload = connection.notifies.pop(0).payload
                        if payload.isdigit():
                            newest = max(newest or 0, int(payload))
                    if newest is not None:
                        self._publish(newest)
            except psycopg2.Error:
                self._started.set()
                threading.Event().wait(1)  # database away: reconnect shortly

    def _publish(self, change_id):
        with self._condition:
            if self._latest is None or change_id > self._latest:
                self._latest = change_id
                self._condition.notify_all()

    def latest(self):
        with self._condition:
            return self._latest or 0

    def wait(self, after_id, timeout):
        """Block until a change newer than ``after_id`` exists (or timeout); return newest id."""
        self.start()
        with self._condition:
            self._condition.wait_for(lambda: (self._latest or 0) > after_id, timeout)
            return self._latest or 0


def get_hub():
    hub = current_app.extensions.get(EXTENSION)
    if hub is None:  # two threads may race here: setdefault keeps exactly one hub
        hub = current_app.extensions.setdefault(
            EXTENSION, ChangeHub(current_app.config["DATABASE_URL"]))
    return hub

