"""The batch consumer on real RabbitMQ: events come in batches, each message is settled by
its own outcome (acked, through the delay queue, or dead-lettered with the reason), and a
batch's acks leave nothing unacked behind."""
import uuid

import pytest
from kombu import Connection
from nameko.testing.services import entrypoint_waiter

from rds_bus import topology
from rds_bus.batches import batch_event_consumer
from rds_bus.entrypoints import REASON_HEADER
from rds_bus.publish import BusPublisher
from rds_contracts import agents
from rds_control.db_errors import is_transient
from rds_db.session import make_engine
from rds_settings.nameko import SETTINGS_KEY
from rds_settings.settings import load

EVENT_KEY = "f" * 64


def log_event(text_):
    return agents.TaskLog(task_id=uuid.uuid4().hex, run_id=uuid.uuid4().hex, seq=1, text=text_)


def away_error():
    try:
        make_engine("postgresql://postgres@127.0.0.1:1/away").connect()
    except Exception as exc:
        return exc
    raise AssertionError("port 1 answered")


class FakeIngest:
    """Outcome of each event by its text: ``ok``, ``bad`` (a bug), ``down`` (the database
    away the first time)."""

    name = "fake_batch_ingest"
    batches: list[list[str]] = []

    @batch_event_consumer(retry_later=is_transient)
    def handle_events(self, events):
        texts = [event.text for _, event in events]
        self.batches.append(texts)
        seen = [text for batch in self.batches for text in batch]
        return [None if text.startswith("ok")
                else ValueError("no good: %s" % text) if text.startswith("bad")
                else away_error() if seen.count(text) == 1 else None
                for text in texts]


@pytest.fixture
def queue_is_empty(amqp_uri):
    with Connection(amqp_uri) as connection:  # events other tests' services left behind
        topology.INGEST_QUEUE(connection.default_channel).declare()
        topology.INGEST_QUEUE(connection.default_channel).purge()

    def ready_and_unacked():
        with Connection(amqp_uri) as connection:
            _, count, _ = connection.default_channel.queue_declare(
                topology.INGEST_QUEUE.name, passive=True)
            return count
    return ready_and_unacked


def test_each_message_of_a_batch_is_settled_by_its_own_outcome(container_factory, amqp_uri,
                                                                queue_is_empty):
    FakeIngest.batches = []
    publisher = BusPublisher(amqp_uri, event_key=EVENT_KEY)
    texts = ["ok-1", "bad-2", "ok-3", "down-4", "ok-5"]
    for text_ in texts:  # queued before the consumer starts: they come as one batch
        publisher.send_event(log_event(text_))
    container = container_factory(FakeIngest, {
        "AMQP_URI": amqp_uri, "BUS_EVENT_KEY": EVENT_KEY,
        SETTINGS_KEY: load({"RDS_INGEST_BATCH_SIZE": "50", "RDS_INGEST_BATCH_WAIT": "0.5"})})
    with entrypoint_waiter(container, "handle_events", timeout=30,
                           callback=lambda ctx, result, exc_info: "down-4" in ctx.args[0][0][1].text
                           and result == [None]):
        container.start()
    assert FakeIngest.batches == [texts, ["down-4"]]  # back from the delay queue, alone
    with Connection(amqp_uri) as connection:
        dead_queue = connection.SimpleQueue(topology.DEAD_QUEUE)
        try:
            while True:  # other tests' dead letters stay unacked: they go back at close
                dead = dead_queue.get(block=True, timeout=15)
                if isinstance(dead.payload, dict) and dead.payload.get("text") == "bad-2":
                    dead.ack()
                    break
        finally:
            dead_queue.close()
    assert "handle_events raised ValueError: no good: bad-2" in dead.headers[REASON_HEADER]
    container.stop()  # whatever was left unacked goes back to the queue
    assert queue_is_empty() == 0
