"""``GET /metrics``: Prometheus text of the whole system, scraped from the real
database and a real RabbitMQ vhost."""
import uuid
from datetime import timedelta

import pytest
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from rds_bus import topology
from rds_contracts import agents
from rds_control.ingest import apply_event
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_web import create_app
from tests import factories


@pytest.fixture
def metrics_app(database_url, amqp_uri, publisher):
    return create_app({"DATABASE_URL": database_url, "AMQP_URI": amqp_uri,
                       "SECRET_KEY": "test", "BUS_PUBLISHER": publisher, "TESTING": True})


def scrape(app, headers=None):
    response = app.test_client().get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_a_scrape_reports_releases_queues_agents_and_dead_letters(metrics_app, session_factory,
                                                                  amqp_uri):
    pool = "m-%s" % uuid.uuid4().hex[:8]
    with transaction(session_factory) as session:
        release = factories.queued_release(session, "m", host="10.0.0.9", pool=pool)
        release.tasks[0].created_at = utcnow() - timedelta(seconds=90)
        apply_event(session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
            agent="m-host/builder/1", service="builder", pool=pool, host="m-host", pid=1,
            version="t", interval=1, at=utcnow()))
    with Connection(amqp_uri) as connection:  # one dead letter in the broker
        producer = connection.Producer()
        producer.publish({"bad": True}, exchange=topology.DEAD_EXCHANGE, routing_key="x",
                         declare=[topology.DEAD_EXCHANGE, topology.DEAD_QUEUE])

    samples = scrape(metrics_app)
    assert samples[("rds_releases", (("status", "new"),))] >= 1
    assert samples[("rds_command_queue_tasks", (("command", "build"), ("pool", pool)))] == 1
    assert samples[("rds_command_queue_oldest_seconds",
                    (("command", "build"), ("pool", pool)))] >= 90
    assert samples[("rds_agents_online", (("pool", pool), ("service", "builder")))] == 1
    assert samples[("rds_broker_up", ())] == 1
    assert samples[("rds_dead_letters", ())] >= 1
    assert 0 <= samples[("rds_ingest_lag_seconds", ())] < 60
    assert ("rds_build_duration_seconds_bucket", (("le", "+Inf"),)) in samples


def test_durations_are_histograms(metrics_app, session_factory):
    with transaction(session_factory) as session:
        release = factories.queued_release(session, "h", host="10.0.0.8")
        start = utcnow() - timedelta(minutes=10)
        release.build_started_at = start
        release.built_at = start + timedelta(seconds=7)
        release.installed_at = start + timedelta(seconds=50)
    before = scrape(metrics_app)
    count = before[("rds_build_duration_seconds_count", ())]
    assert count >= 1
    # the 7 s build is in the 10 s bucket but not in the 5 s one
    assert before[("rds_build_duration_seconds_bucket", (("le", "10.0"),))] \
        > before[("rds_build_duration_seconds_bucket", (("le", "5.0"),))]
    assert before[("rds_upload_duration_seconds_bucket", (("le", "60.0"),))] >= 1


def test_the_broker_being_away_is_reported_not_an_error(database_url, publisher):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test", "TESTING": True,
                      "AMQP_URI": "amqp://guest:guest@127.0.0.1:9/", "BUS_PUBLISHER": publisher})
    samples = scrape(app)
    assert samples[("rds_broker_up", ())] == 0
    assert any(name == "rds_releases" for name, _ in samples)  # the database still counts


def test_a_metrics_token_is_required_when_set(database_url, amqp_uri, publisher):
    app = create_app({"DATABASE_URL": database_url, "AMQP_URI": amqp_uri, "SECRET_KEY": "test",
                      "BUS_PUBLISHER": publisher, "TESTING": True, "METRICS_TOKEN": "s3cret"})
    assert app.test_client().get("/metrics").status_code == 401
    assert app.test_client().get("/metrics", headers={
        "Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(app, {"Authorization": "Bearer s3cret"})[("rds_broker_up", ())] == 1
