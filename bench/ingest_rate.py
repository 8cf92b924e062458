"""How many agent events per second does ingest apply?

Seeds a throwaway database with running builds (one per project, like busy
agents), publishes a burst of realistic agent events for them into a
throwaway RabbitMQ vhost (task started, step timings, log chunks of a few
hundred bytes, build built/installing, server ready per server, build
finished), then starts ``copies`` real ingest processes (``rds-service
ingest``) and times how long they take to drain the burst.

The clock starts once every copy consumes from the queue (copies that start
earlier get a head start that is not counted: the events still queued then
are what is timed) and stops when every event is in the database (every log
chunk stored, every build finished). The database and the vhost are dropped
afterwards.

    .venv/bin/python bench/ingest_rate.py [--events 22000] [--tasks 17] [--copies 1 2] [--repeat 3]

Import ``measure(copies, events)`` (events per second) from a larger benchmark.
Needs PostgreSQL at RDS_TEST_ADMIN_DB_URL (default postgres@127.0.0.1:5432) and
RabbitMQ with ``rabbitmqctl`` (RDS_TEST_AMQP_URI, default guest@127.0.0.1:5672).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kombu import Connection, Producer
from sqlalchemy import func, select

from rds_bus import topology
from rds_contracts import agents, builder
from rds_contracts.base import Message, TaskEvent
from rds_contracts.registry import event_name
from rds_control import projects, releases, users
from rds_db.models import Task, TaskLog
from rds_db.session import make_engine, make_session_factory, transaction
from rds_testing import infra

#: Servers per project (one ``server_ready`` each per build).
SERVERS = 2
STEPS = ("checkout", "build", "pack", "upload")
#: Events per build besides its log chunks: started, 2 per step, built, installing,
#: one ready per server, finished.
FIXED_EVENTS = 1 + 2 * len(STEPS) + 2 + SERVERS + 1
#: Longest a drain may take before the measurement gives up.
TIMEOUT = 600.0


@dataclass(frozen=True)
class Burst:
    """The events to publish, in the order agents would send them."""

    events: list[Message]
    logs: int
    tasks: list[str]


def seed(session_factory: Any, tasks: int) -> list[tuple[str, list[int]]]:
    """One project per task with a queued build; returns ``[(task id, server ids)]``."""
    seeded = []
    with transaction(session_factory) as session:
        user = users.create_user(session, "bench", "admin", password="bench-password")
        for n in range(tasks):
            project = projects.create_project(session, {
                "name": "burst-%02d" % n, "repository": "/srv/git/app.git",
                "deploy_path": "apps/burst", "scripts": {"build": "make"},
                "servers": [{"host": "10.0.%d.%d" % (n, s + 1), "user": "deploy"}
                            for s in range(SERVERS)]}, user)
            release = releases.create_release(session, project.name, {}, user)
            seeded.append((release.tasks[-1].id, [s.id for s in project.servers]))
    return seeded


def burst(seeded: list[tuple[str, list[int]]], events: int, rng: random.Random) -> Burst:
    """About ``events`` events for the seeded builds, interleaved like concurrent agents."""
    logs_each = max(1, events // len(seeded) - FIXED_EVENTS)
    now = datetime.now(UTC)
    streams = []
    for n, (task_id, servers) in enumerate(seeded):
        run_id, seq, at = uuid.uuid4().hex, 0, now
        agent = "bench-host%d/builder/1" % n

        def next_(schema: type[TaskEvent], **fields: Any) -> Message:
            nonlocal seq, at
            seq += 1
            at += timedelta(milliseconds=10)
            return schema(task_id=task_id, run_id=run_id, seq=seq, at=at, **fields)
        stream = [next_(agents.TaskStarted, agent=agent)]
        per_step = logs_each // len(STEPS)
        for index, step in enumerate(STEPS):
            stream.append(next_(agents.TaskStep, step=step, state="started"))
            count = per_step if index < len(STEPS) - 1 else logs_each - per_step * index
            for _ in range(count):
                line = "%s: %s\n" % (step, "x" * rng.randint(40, 160))
                stream.append(next_(agents.TaskLog, text=line * rng.randint(1, 6)))
            stream.append(next_(agents.TaskStep, step=step, state="finished"))
            if step == "pack":
                stream.append(next_(builder.BuildBuilt, commit="a" * 40, files=10, bytes=1000))
                stream.append(next_(builder.BuildInstalling, servers=len(servers)))
            if step == "upload":
                for server in servers:
                    stream.append(next_(builder.ServerReady, server_id=server,
                                        manifest_sha256="b" * 64, files_sent=10,
                                        bytes_sent=1000))
        stream.append(next_(builder.BuildFinished,
                            servers=[{"server_id": s, "ok": True} for s in servers]))
        streams.append(stream)
    ordered = []
    while any(streams):  # round robin, as concurrent agents' events arrive
        for stream in streams:
            if stream:
                ordered.append(stream.pop(0))
    return Burst(events=ordered, logs=logs_each * len(seeded),
                 tasks=[task_id for task_id, _ in seeded])


def publish(amqp_uri: str, events: list[Message]) -> None:
    """Queue the burst for ingest (unsigned; ingest runs without bus keys here)."""
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for entity in topology.declarations():
            entity(channel).declare()
        producer = Producer(channel, exchange=topology.EVENTS_EXCHANGE)
        for event in events:
            name = event_name(event)
            producer.publish(json.dumps(event.to_wire()), routing_key=name,
                             content_type="application/json", content_encoding="utf-8",
                             headers={topology.TYPE_HEADER: name}, delivery_mode=2)
        while _queue_state(channel)[0] < len(events):
            time.sleep(0.05)


def _queue_state(channel: Any) -> tuple[int, int]:
    """``(ready messages, consumers)`` of the ingest queue."""
    _, ready, consumers = channel.queue_declare(topology.INGEST_QUEUE.name, passive=True)
    return ready, consumers


@contextmanager
def ingest_copies(copies: int, database_url: str, amqp_uri: str,
                  log_dir: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``copies`` ingest processes, stopped afterwards."""
    env = dict(os.environ, RDS_DATABASE_URL=database_url, RDS_AMQP_URI=amqp_uri,
               RDS_BUS_COMMAND_KEY="", RDS_BUS_EVENT_KEY="",
               RDS_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
               RDS_AGENT_NAME="bench-ingest", PYTHONUNBUFFERED="1")
    service = os.path.join(os.path.dirname(sys.executable), "rds-service")
    processes = []
    try:
        for n in range(copies):
            with open(os.path.join(log_dir, "ingest-%d.log" % n), "ab") as log:
                processes.append(subprocess.Popen([service, "ingest"], env=env, stdout=log,
                                                  stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL))
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _drained(session_factory: Any, shape: Burst) -> bool:
    with transaction(session_factory) as session:
        logs = session.scalar(select(func.count()).select_from(TaskLog))
        unfinished = session.scalar(select(func.count()).select_from(Task).where(
            Task.id.in_(shape.tasks), Task.finished_at.is_(None)))
    return logs >= shape.logs and unfinished == 0


def measure(copies: int, events: int, tasks: int = 17, seed_: int = 1) -> float:
    """Events per second ``copies`` ingest processes apply from a queued burst of
    about ``events`` agent events for ``tasks`` concurrent builds."""
    rng = random.Random(seed_)
    amqp_uri = infra.create_vhost(os.environ.get("RDS_TEST_AMQP_URI", infra.DEFAULT_AMQP_URI))
    try:
        with infra.migrated_database() as database_url, \
                tempfile.TemporaryDirectory(prefix="rds-ingest-bench-") as log_dir:
            engine = make_engine(database_url)
            session_factory = make_session_factory(engine)
            shape = burst(seed(session_factory, tasks), events, rng)
            publish(amqp_uri, shape.events)
            with Connection(amqp_uri) as connection, \
                    ingest_copies(copies, database_url, amqp_uri, log_dir) as processes:
                channel = connection.channel()
                deadline = time.monotonic() + 120
                while (state := _queue_state(channel))[1] < copies:
                    if time.monotonic() > deadline or any(p.poll() is not None
                                                          for p in processes):
                        raise RuntimeError("ingest did not start; see its log in %s" % log_dir)
                    time.sleep(0.01)
                started, queued = time.monotonic(), state[0]
                while not _drained(session_factory, shape):
                    if time.monotonic() - started > TIMEOUT:
                        raise RuntimeError("ingest did not drain the burst in %d s" % TIMEOUT)
                    time.sleep(0.02)
                took = time.monotonic() - started
            engine.dispose()
            return queued / took
    finally:
        infra.delete_vhost(amqp_uri)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=22000)
    parser.add_argument("--tasks", type=int, default=17)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per number of copies, taken in turns; the median counts")
    args = parser.parse_args(argv)
    runs: dict[int, list[float]] = {copies: [] for copies in args.copies}
    for _ in range(args.repeat):
        for copies in args.copies:
            runs[copies].append(measure(copies, args.events, tasks=args.tasks))
    rates = {copies: statistics.median(rates) for copies, rates in runs.items()}
    for copies, rate in rates.items():
        print("ingest, %d cop%s: %7.0f events/s  (runs: %s)" % (
            copies, "y" if copies == 1 else "ies", rate,
            ", ".join("%.0f" % r for r in runs[copies])), flush=True)
    if 1 in rates and len(rates) > 1:
        for copies, rate in rates.items():
            if copies != 1:
                print("%d copies / 1 copy: %.2fx" % (copies, rate / rates[1]))


if __name__ == "__main__":
    main()
