"""How fast does a change reach 100 open pages? Live-update streams through gunicorn.

Starts the web process as it is deployed (gunicorn configured by
``rds_web.gunicorn_conf``, i.e. the default settings unless ``workers`` or
``env`` say otherwise), opens ``streams`` board streams (server-sent events,
raw sockets read by one thread), then changes a release ``rounds`` times and
times, for every stream, how long the new row took from the commit to the
stream's socket. Also reported: streams the web refused (its stream cap),
the web's database connections while the streams are open, connections it
opened and scans of the ``changes`` table per change (PostgreSQL's statistics).

    .venv/bin/python bench/streams.py [--streams 100] [--rounds 5] [--workers 1]
                                      [--no-db-stats]

For other harnesses (import ``bench/streams.py`` as module ``streams``):

    measure(streams, rounds=5, workers=None, env=None, database_url=None,
            db_stats=True) -> dict

with the keys ``streams``, ``workers``, ``connected``, ``refused``,
``missed``, ``median_ms``, ``p95_ms``, ``slowest_ms``,
``slowest_ms_by_round``, ``db_connections``,
``connections_opened_per_change`` and ``feed_scans_per_change``. Given a
``database_url`` (migrated, with at least one release) it follows the newest
release there; otherwise it seeds a throwaway database (dropped afterwards).
PostgreSQL reports a backend's statistics up to 10 s late, so the database
counts cost two 11-second waits; ``db_stats=False`` skips them (those keys
are then None). ``env`` adds variables for the web (e.g. ``RDS_UI_MAX_STREAMS``).
Needs PostgreSQL at RDS_TEST_ADMIN_DB_URL (default postgres@127.0.0.1:5432).
"""
import argparse
import os
import re
import secrets
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from rds_control import users
from rds_control.changes import last_change_id, release_changed
from rds_db.models import Project, ReleaseRequest, User
from rds_db.session import make_engine, make_session_factory, transaction
from rds_testing import infra, localrun

BENCH_USER = "bench-streams"
#: How long a change may take to reach a stream before it counts as missed.
DELIVERY_TIMEOUT = 10.0
#: Seconds between changes.
GAP = 0.5
#: PostgreSQL sends an idle backend's statistics within 10 s (PGSTAT_IDLE_INTERVAL).
STATS_DELAY = 11.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(session: Session) -> None:
    """One project with a release, for a fresh database."""
    project = Project(name="bench-streams", repository="/srv/git/bench.git",
                      deploy_path="apps/bench", build_counter=1)
    session.add(project)
    session.flush()
    session.add(ReleaseRequest(project_id=project.id, version="1.00.001.1",
                               version_key=[1, 0, 1, 1], release_line=1, status="installed",
                               comment="bench", ref="main", build_attempts=1))


def _prepare(session_factory: Any) -> tuple[str, int, str]:
    """(project name, release id, password of the bench user), seeding if empty."""
    password = secrets.token_hex(12)
    with transaction(session_factory) as session:
        if session.scalar(select(ReleaseRequest.id).limit(1)) is None:
            _seed(session)
        user = session.scalars(select(User).where(User.username == BENCH_USER)).one_or_none()
        if user is None:
            users.create_user(session, BENCH_USER, "deployer", password=password)
        else:
            users.set_password(user, password)
        release = session.scalars(select(ReleaseRequest).order_by(
            ReleaseRequest.id.desc()).limit(1)).one()
        return release.project.name, release.id, password


@contextmanager
def _web(database_url: str, workers: int | None,
         env: Mapping[str, str] | None) -> Iterator[str]:
    """gunicorn serving rds_web on a free port; yields its base URL."""
    port = _free_port()
    environ = dict(os.environ, RDS_DATABASE_URL=database_url,
                   RDS_SECRET_KEY=secrets.token_hex(16), PYTHONUNBUFFERED="1")
    environ.update(env or {})
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(localrun.command_for("web", port, web_workers=workers),
                                   cwd=localrun.REPO, env=environ, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        base = "http://127.0.0.1:%d" % port
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(base + "/login", timeout=10).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError("web did not start:\n" + log.read().decode()[-3000:])
                time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _login(base: str, password: str) -> str:
    """The session cookie of the bench user."""
    client = requests.Session()
    page = client.get(base + "/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    response = client.post(base + "/login", data={
        "username": BENCH_USER, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.status_code
    return "; ".join("%s=%s" % (c.name, c.value) for c in client.cookies)


class Streams:
    """``count`` open event streams read by one thread; records when a marker arrives."""

    def __init__(self, base: str, cookie: str, path: str, count: int) -> None:
        host, port = base.split("//", 1)[1].split(":")
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n"
                   "Accept: text/event-stream\r\n\r\n" % (path, host, cookie)).encode()
        self.selector = selectors.DefaultSelector()
        self.sockets: list[socket.socket] = []
        self.buffers: dict[int, bytes] = {}
        self.opened: set[int] = set()   # sent the stream's first line (retry: 1000)
        self.refused: set[int] = set()  # told to come back later (the stream cap)
        self.arrived: dict[int, float] = {}
        self.marker = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        for n in range(count):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(request)
            sock.setblocking(False)
            self.sockets.append(sock)
            self.buffers[n] = b""
            self.selector.register(sock, selectors.EVENT_READ, n)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(0.05):
                n = key.data
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except (BlockingIOError, ConnectionError):
                    continue
                now = time.monotonic()
                if not data:
                    self.selector.unregister(key.fileobj)
                    continue
                with self._lock:
                    buffer = self.buffers[n] + data
                    if b"retry: 1000" in buffer:
                        self.opened.add(n)
                    if b"retry: 5000" in buffer:
                        self.refused.add(n)
                    if self.marker and self.marker in buffer and n not in self.arrived:
                        self.arrived[n] = now
                    self.buffers[n] = buffer[-4096:]

    def expect(self, marker: bytes) -> None:
        with self._lock:
            self.marker, self.arrived = marker, {}
            for n in self.buffers:
                self.buffers[n] = b""

    def wait(self, condition: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if condition():
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def _database_stats(admin: Any, engine: Any, name: str) -> tuple[int, int, int, int]:
    """Of database ``name``: (backends connected, transactions ended, sessions ever
    opened, scans of the ``changes`` table)."""
    with admin.connect() as connection:
        backends, xacts, sessions = connection.execute(text(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = :name),"
            " xact_commit + xact_rollback, sessions FROM pg_stat_database"
            " WHERE datname = :name"), {"name": name}).one()
    with engine.connect() as connection:
        scans = connection.scalar(text(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'changes'"))
    return int(backends), int(xacts), int(sessions), int(scans or 0)


def _follow(database_url: str, streams: int, rounds: int, workers: int | None,
            env: Mapping[str, str] | None, db_stats: bool) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=2)
    session_factory = make_session_factory(engine)
    stats = make_engine(os.environ.get("RDS_TEST_ADMIN_DB_URL", infra.DEFAULT_ADMIN_DB_URL),
                        pool_size=1)  # another database: not counted in the statistics
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    try:
        project, release_id, password = _prepare(session_factory)
        with _web(database_url, workers, env) as base:
            cookie = _login(base, password)
            with transaction(session_factory) as session:
                start_id = last_change_id(session)
            path = "/events?view=board&after=%d&project=%s" % (start_id, project)
            clients = Streams(base, cookie, path, streams)
            try:
                clients.wait(lambda: len(clients.opened | clients.refused) == streams, 60)
                connected = len(clients.opened)
                times: list[float] = []
                missed = connections = 0
                slowest_by_round: list[float | None] = []
                before: tuple[int, ...] = ()
                for n in range(rounds + 1):  # round 0 warms up (every stream attached)
                    if n == 1:
                        if db_stats:
                            time.sleep(STATS_DELAY)  # the statistics of the warm-up arrive
                        before = _database_stats(stats, engine, name)
                    marker = "bench-%d-%s" % (n, secrets.token_hex(4))
                    clients.expect(marker.encode())
                    with transaction(session_factory) as session:
                        release = session.get(ReleaseRequest, release_id)
                        assert release is not None
                        release.comment = marker
                        release_changed(session, release)
                        session.flush()
                        start = time.monotonic()  # the commit follows
                    clients.wait(lambda: len(clients.arrived) >= connected, DELIVERY_TIMEOUT)
                    if n == 0:
                        continue
                    took = sorted((at - start) * 1000 for at in clients.arrived.values())
                    times += took
                    slowest_by_round.append(round(took[-1], 1) if took else None)
                    missed += connected - len(clients.arrived)
                    connections = max(connections, _database_stats(stats, engine, name)[0])
                    time.sleep(GAP)
                if db_stats:
                    time.sleep(STATS_DELAY)
                after = _database_stats(stats, engine, name)
            finally:
                clients.close()
    finally:
        engine.dispose()
        stats.dispose()
    times.sort()

    def per_change(index: int, ours: int) -> float | None:
        if not (rounds and db_stats):
            return None
        return round((after[index] - before[index] - ours) / rounds, 1)
    return {
        "streams": streams, "workers": workers, "connected": connected,
        "refused": len(clients.refused), "missed": missed,
        "median_ms": round(statistics.median(times), 1) if times else None,
        "p95_ms": round(times[max(int(len(times) * 0.95) - 1, 0)], 1) if times else None,
        "slowest_ms": round(times[-1], 1) if times else None,
        "slowest_ms_by_round": slowest_by_round,
        "db_connections": connections,
        # per change, as PostgreSQL counted them (includes the web's 5-second looks)
        "connections_opened_per_change": per_change(2, 0),
        "feed_scans_per_change": per_change(3, 0),
    }


def measure(streams: int, rounds: int = 5, workers: int | None = None,
            env: Mapping[str, str] | None = None, database_url: str | None = None,
            db_stats: bool = True) -> dict[str, Any]:
    """Delivery time of a change to ``streams`` open board streams (see the module doc)."""
    if database_url is not None:
        return _follow(database_url, streams, rounds, workers, env, db_stats)
    admin_url = os.environ.get("RDS_TEST_ADMIN_DB_URL", infra.DEFAULT_ADMIN_DB_URL)
    from rds_db.migrate import upgrade

    url = infra.create_database(admin_url, name=infra.unique_name("rds_bench_streams"))
    try:
        upgrade(url)
        return _follow(url, streams, rounds, workers, env, db_stats)
    finally:
        infra.drop_database(url, admin_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: the settings' RDS_WEB_WORKERS)")
    parser.add_argument("--no-db-stats", dest="db_stats", action="store_false",
                        help="skip the database counts (saves 22 s)")
    args = parser.parse_args(argv)
    result = measure(args.streams, args.rounds, args.workers, db_stats=args.db_stats)
    print("  ".join("%s=%s" % item for item in result.items()))
    return 0 if result["missed"] == 0 and result["connected"] == args.streams else 1


if __name__ == "__main__":
    sys.exit(main())
