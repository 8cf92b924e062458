"""Prometheus metrics of the whole system at ``GET /metrics`` (``prometheus-client``).

Everything is read when Prometheus scrapes, from the two places that know
it, so any number of web processes report the same values and nothing is
counted twice: PostgreSQL (releases, tasks, agents' heartbeats, which is how
agents report their state) and RabbitMQ (messages waiting in each command
queue, the ingest backlog, dead letters).

| metric | labels | meaning |
|---|---|---|
| ``rds_releases`` | status | releases (not deleted) by status |
| ``rds_build_duration_seconds`` | | histogram: build start → built (last 1000 releases) |
| ``rds_upload_duration_seconds`` | | histogram: built → installed on every server |
| ``rds_activation_duration_seconds`` | | histogram: activation task start → end |
| ``rds_command_queue_tasks`` | command, pool | tasks queued for an agent (database) |
| ``rds_command_queue_oldest_seconds`` | command, pool | age of the oldest of them |
| ``rds_command_queue_messages`` | queue | messages waiting in the broker queue |
| ``rds_agents_online`` | pool, service | agent copies with a fresh heartbeat |
| ``rds_ingest_lag_seconds`` | | now − send time of the newest probe ingest applied |
| ``rds_ingest_backlog_messages`` | | events waiting for ingest |
| ``rds_dead_letters`` | | messages in ``rds.dead`` |
| ``rds_broker_up`` | | 1 if RabbitMQ answered this scrape |

``RDS_METRICS_TOKEN``, when set, is required as ``Authorization: Bearer``.
"""
import hmac
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rds_bus import topology
from rds_control.agents import list_agents
from rds_control.ingest_lag import ingest_lag
from rds_control.tasks import COMMAND_FOR_KIND
from rds_core.lifecycle import TaskKind, TaskStatus
from rds_db.models import ReleaseRequest, Task
from rds_db.models.base import utcnow

bp = Blueprint("metrics", __name__)

#: seconds; builds and uploads take seconds to many minutes
BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
#: how many recent releases/tasks the duration histograms cover
RECENT = 1000


def histogram(name: str, documentation: str, values: list[float]) -> HistogramMetricFamily:
    counts = [sum(1 for v in values if v <= bound) for bound in BUCKETS]
    buckets = [(str(float(bound)), count) for bound, count in zip(BUCKETS, counts)]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def database_metrics(session: Session, now: datetime) -> Iterator[Metric]:
    releases = GaugeMetricFamily("rds_releases", "Releases (not deleted) by status",
                                 labels=["status"])
    for status, count in session.execute(
            select(ReleaseRequest.status, func.count()).where(
                ReleaseRequest.deleted_at.is_(None)).group_by(ReleaseRequest.status)):
        releases.add_metric([status], count)
    yield releases

    recent = session.execute(
        select(ReleaseRequest.build_started_at, ReleaseRequest.built_at,
               ReleaseRequest.installed_at)
        .where(ReleaseRequest.built_at.is_not(None))
        .order_by(ReleaseRequest.id.desc()).limit(RECENT)).all()
    builds = [d for d in (_seconds(r.build_started_at, r.built_at) for r in recent)
              if d is not None]
    uploads = [d for d in (_seconds(r.built_at, r.installed_at) for r in recent)
               if d is not None]
    yield histogram("rds_build_duration_seconds", "Build start to built", builds)
    yield histogram("rds_upload_duration_seconds", "Built to installed on every server",
                    uploads)
    activations = session.execute(
        select(Task.started_at, Task.finished_at)
        .where(Task.kind == TaskKind.ACTIVATE.value, Task.status == TaskStatus.SUCCEEDED.value)
        .order_by(Task.finished_at.desc()).limit(RECENT)).all()
    yield histogram("rds_activation_duration_seconds", "Activation task start to end",
                    [d for d in (_seconds(a.started_at, a.finished_at) for a in activations)
                     if d is not None])

    depth = GaugeMetricFamily("rds_command_queue_tasks", "Tasks queued for an agent",
                              labels=["command", "pool"])
    age = GaugeMetricFamily("rds_command_queue_oldest_seconds",
                            "Age of the oldest task queued for an agent",
                            labels=["command", "pool"])
    for kind, pool, count, oldest in session.execute(
            select(Task.kind, Task.pool, func.count(), func.min(Task.created_at))
            .where(Task.status == TaskStatus.QUEUED.value).group_by(Task.kind, Task.pool)):
        command = COMMAND_FOR_KIND.get(kind, kind)
        depth.add_metric([command, pool], count)
        age.add_metric([command, pool], _seconds(oldest, now) or 0.0)
    yield depth
    yield age

    online = GaugeMetricFamily("rds_agents_online", "Agent copies with a fresh heartbeat",
                               labels=["pool", "service"])
    per_pool: dict[tuple[str, str], int] = {}
    for agent, is_online in list_agents(session):
        key = (agent.pool, agent.service)
        per_pool[key] = per_pool.get(key, 0) + (1 if is_online else 0)
    for (pool, service), count in sorted(per_pool.items()):
        online.add_metric([pool, service], count)
    yield online
    yield GaugeMetricFamily("rds_ingest_lag_seconds",
                            "Now minus the send time of the newest probe ingest applied",
                            value=ingest_lag(session, now))


def broker_metrics(amqp_uri: str, queues: list[str]) -> Iterator[Metric]:
    """Message counts by passive declare (never creates a queue); down → rds_broker_up 0."""
    from kombu import Connection

    counts: dict[str, int] = {}
    try:
        with Connection(amqp_uri, connect_timeout=3) as connection:
            for name in queues:
                channel = connection.channel()
                try:
                    _, messages, _ = channel.queue_declare(name, passive=True)
                    counts[name] = messages
                except Exception:  # not declared yet: nothing waiting in it
                    pass
                finally:
                    try:
                        channel.close()
                    except Exception:
                        pass
        up = 1
    except Exception:
        up = 0
    yield GaugeMetricFamily("rds_broker_up", "1 if RabbitMQ answered this scrape", value=up)
    if not up:
        return
    waiting = GaugeMetricFamily("rds_command_queue_messages",
                                "Messages waiting in a command queue", labels=["queue"])
    for name in queues:
        if name in counts and name not in (topology.DEAD_QUEUE.name,
                                           topology.INGEST_QUEUE.name):
            waiting.add_metric([name], counts[name])
    yield waiting
    yield GaugeMetricFamily("rds_ingest_backlog_messages", "Events waiting for ingest",
                            value=counts.get(topology.INGEST_QUEUE.name, 0))
    yield GaugeMetricFamily("rds_dead_letters", "Messages in rds.dead",
                            value=counts.get(topology.DEAD_QUEUE.name, 0))


class SystemCollector(Collector):
    def __init__(self, session: Session, amqp_uri: str) -> None:
        self.session = session
        self.amqp_uri = amqp_uri

    def collect(self) -> Iterator[Metric]:
        yield from database_metrics(self.session, utcnow())
        pools = sorted({pool for (pool,) in self.session.execute(
            select(Task.pool).distinct())} | {"default"})
        queues = [topology.command_queue(command, pool).name
                  for command in sorted(set(COMMAND_FOR_KIND.values())) for pool in pools]
        yield from broker_metrics(self.amqp_uri,
                                  queues + [topology.INGEST_QUEUE.name, topology.DEAD_QUEUE.name])


@bp.get("/metrics")
def metrics() -> Response:
    from rds_web.db import get_session

    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("metrics need Authorization: Bearer <RDS_METRICS_TOKEN>\n", 401,
                            mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(get_session(), current_app.config["AMQP_URI"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
