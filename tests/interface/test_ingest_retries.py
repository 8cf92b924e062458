"""Ingest's failure classes on real RabbitMQ and PostgreSQL: the database being away
is retried through a delay queue (the queue keeps flowing meanwhile); data the
database refuses is dead-lettered with the reason, once."""
import uuid

import pytest
from kombu import Connection
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import text

from rds_bus import topology
from rds_bus.entrypoints import QUEUE_HEADER, REASON_HEADER, event_consumer
from rds_bus.publish import BusPublisher
from rds_contracts import agents
from rds_control.db_errors import is_transient
from rds_db.session import make_engine, make_session_factory

#: Events are signed: a retried event must still verify after its trip through a delay queue.
EVENT_KEY = "e" * 64


def log_event(text_):
    return agents.TaskLog(task_id=uuid.uuid4().hex, run_id=uuid.uuid4().hex, seq=1, text=text_)


class FakeIngest:
    """Consumes events like ingest; what each event does is in its text."""

    name = "fake_ingest"
    handled = []
    attempts = {}
    database_url = None

    @event_consumer(retry_later=is_transient)
    def handle_event(self, name, event):
        self.attempts[event.text] = self.attempts.get(event.text, 0) + 1
        if event.text.startswith("down") and self.attempts[event.text] <= 2:
            make_engine("postgresql://postgres@127.0.0.1:1/away").connect()
        if event.text.startswith("bad"):
            with make_session_factory(make_engine(self.database_url))() as session:
                session.execute(text("SELECT (2147483648)::integer"))
        self.handled.append(event.text)


@pytest.fixture
def ingest(container_factory, amqp_uri, database_url):
    FakeIngest.handled, FakeIngest.attempts = [], {}
    FakeIngest.database_url = database_url
    with Connection(amqp_uri) as connection:  # events other tests' services left behind
        topology.INGEST_QUEUE(connection.default_channel).declare()
        topology.INGEST_QUEUE(connection.default_channel).purge()
    container = container_factory(FakeIngest, {"AMQP_URI": amqp_uri, "max_workers": 1,
                                               "BUS_EVENT_KEY": EVENT_KEY})
    container.start()
    return container


def test_the_database_being_away_is_retried_later_without_blocking(ingest, amqp_uri):
    publisher = BusPublisher(amqp_uri, event_key=EVENT_KEY)
    with entrypoint_waiter(ingest, "handle_event", timeout=30,
                           callback=lambda ctx, result, exc_info: exc_info is None
                           and FakeIngest.handled[-1:] == ["down-1"]):
        publisher.send_event(log_event("down-1"))
        publisher.send_event(log_event("fine-2"))
    assert FakeIngest.attempts["down-1"] == 3
    assert FakeIngest.handled == ["fine-2", "down-1"]  # the queue flowed during the wait


def test_data_the_database_refuses_is_dead_lettered_with_the_reason(ingest, amqp_uri):
    BusPublisher(amqp_uri, event_key=EVENT_KEY).send_event(log_event("bad-1"))
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(topology.DEAD_QUEUE)
        try:
            while True:  # other tests' dead letters stay unacked: they go back at close
                dead = queue.get(block=True, timeout=15)
                if isinstance(dead.payload, dict) and dead.payload.get("text") == "bad-1":
                    dead.ack()
                    break
        finally:
            queue.close()
    assert dead.headers[QUEUE_HEADER] == topology.INGEST_QUEUE.name
    assert "NumericValueOutOfRange" in dead.headers[REASON_HEADER] or \
        "out of range" in dead.headers[REASON_HEADER]
    assert FakeIngest.attempts["bad-1"] == 1  # never retried
