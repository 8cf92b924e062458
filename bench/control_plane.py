"""How does the control plane hold up with 100,000 releases?

Seeds a throwaway PostgreSQL database with ``BENCH_RELEASES`` releases (default
100,000; 40 projects of 2 servers each, every release with its build task,
step timings and 3 log chunks, activation tasks for the released ones, one
live per project, 5% failed, a few installed, 5 building) with multi-row
``INSERT ... SELECT generate_series``, then starts web exactly as
``rds_testing.localrun`` does (gunicorn ``-k gthread``, its default workers
and threads) and times, over HTTP:

* the board (``GET /``, logged in): first page and a keyset page 90% deep,
  beside a plain ``SELECT`` of the same 25 rows with their tasks and targets;
* the API release list, ``limit=500``: first page and 90% deep (``before=``),
  beside a plain ``SELECT`` of the same 500 rows;
* the API under 20 concurrent clients (keep-alive connections), a mix of 45%
  ``GET /api/v1/releases/<id>``, 45% ``GET /api/v1/projects/<p>/releases``
  (default page of 50, some with ``before=``) and 10% ``GET /api/v1/projects``,
  beside a bare Flask "hello" served by the same gunicorn command;
* the CPU time the web workers and the database's backends spend per request
  (from ``/proc``), on every latency row and for the mix: it depends far less
  than latency on what else runs on the machine;
* the ingest burst rate with one and two copies (``bench/ingest_rate.py``) and
  the delivery time of one change to 100 browser streams (``bench/streams.py``),
  when those modules are present (otherwise the row says "not available"; a
  section that fails says so in its row, and the run exits 1 after the table).

The table puts every number beside its goal, with the load average
(``os.getloadavg()``) taken while it was measured. The database is dropped and
the web stopped afterwards.

    .venv/bin/python bench/control_plane.py
    BENCH_RELEASES=10000 BENCH_REQUESTS=30 BENCH_SECONDS=5 .venv/bin/python \
        bench/control_plane.py                                   # a quick run

Also ``BENCH_CLIENTS`` (20), ``BENCH_EVENTS`` (22,000 ingest events per
burst), ``BENCH_STREAMS`` (100). Needs PostgreSQL at ``RDS_TEST_ADMIN_DB_URL``
(default postgres@127.0.0.1:5432); RabbitMQ only for the ingest and stream rows.
"""
import http.client
import importlib
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psycopg2
import requests

from rds_control import projects, users
from rds_db.migrate import upgrade
from rds_db.session import make_engine, make_session_factory, transaction
from rds_testing import infra, localrun
from rds_testing.appservers import free_port

PASSWORD = "bench-password"
PROJECTS = 40
BUILDING = 5
LOG_CHUNKS = 3
HELLO_APP = '''"""A bare Flask app: the anchor of the request rate."""
from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "world"}
'''


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


# -- seeding ---------------------------------------------------------------------------

_SEED_SQL = [
    # releases: round-robin over the projects, one every 5 minutes, newest last
    """
    INSERT INTO release_requests (project_id, version, version_key, release_line, status,
        user_id, comment, ref, commit, build_attempts, pinned, migration_status,
        build_started_at, built_at, installed_at, activated_at, last_error,
        created_at, updated_at)
    SELECT p.id, format('1.00.%%s.%%s', lpad(x.k::text, 3, '0'), g), ARRAY[1, 0, x.k, g], 1,
           x.status, %(user)s, 'change #' || g || ': ' || substr(md5(g::text), 1, 12),
           'main', md5('c' || g) || substr(md5('d' || g), 1, 8), 1, false, 'none',
           x.t + interval '5 seconds', CASE WHEN x.status <> 'building'
                                            THEN x.t + interval '1 minute' END,
           CASE WHEN x.status NOT IN ('building', 'failed') THEN x.t + interval '1 minute' END,
           CASE WHEN x.status IN ('old', 'used') THEN x.t + interval '2 minutes' END,
           CASE WHEN x.status = 'failed'
                THEN 'build failed: build script exited with status 2' END,
           x.t, x.t
    FROM generate_series(1, %(count)s) AS g
    CROSS JOIN LATERAL (SELECT (g - 1) %% %(projects)s AS n, (g - 1) / %(projects)s + 1 AS k,
        now() - (%(count)s - g) * interval '5 minutes' AS t,
        CASE WHEN g > %(count)s - %(projects)s THEN 'used'
             WHEN g > %(count)s - %(projects)s - %(building)s THEN 'building'
             WHEN g %% 20 = 7 THEN 'failed'
             WHEN g > %(count)s - 300 AND g %% 29 = 0 THEN 'installed'
             ELSE 'old' END AS status) AS x
    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM projects) AS p
      ON p.n = x.n
    """,
    # one build task per release, with its step timings
    """
    INSERT INTO tasks (id, kind, lane, project_id, release_id, status, user_id, pool, agent,
        run_id, last_seq, command, steps, error, created_at, started_at, finished_at, fence)
    SELECT md5('build' || r.id), 'build', 'build', r.project_id, r.id,
           CASE r.status WHEN 'building' THEN 'running' WHEN 'failed' THEN 'failed'
                ELSE 'succeeded' END,
           r.user_id, 'default', 'agent' || r.project_id %% 3 || '/builder/1',
           md5('run' || r.id), 10, jsonb_build_object('version', r.version),
           jsonb_build_object(
             'checkout', jsonb_build_object('started', iso(s), 'finished', iso(s + 2 * u)),
             'build', jsonb_build_object('started', iso(s + 2 * u), 'finished',
                                          CASE WHEN r.status <> 'building'
                                               THEN iso(s + 42 * u) END),
             'pack', jsonb_build_object('started', iso(s + 42 * u), 'finished', iso(s + 43 * u)),
             'upload', jsonb_build_object('started', iso(s + 43 * u),
                                           'finished', iso(s + 51 * u))),
           CASE WHEN r.status = 'failed' THEN r.last_error END,
           r.created_at, s, CASE WHEN r.status <> 'building' THEN s + 51 * u END, 1
    FROM release_requests AS r
    CROSS JOIN LATERAL (SELECT r.created_at + interval '5 seconds' AS s,
        interval '1 second' * (0.7 + (r.id %% 7) / 10.0) AS u) AS x
    """,
    # one activation task per release that went live once
    """
    INSERT INTO tasks (id, kind, lane, project_id, release_id, status, user_id, pool, agent,
        run_id, last_seq, command, steps, created_at, started_at, finished_at, fence)
    SELECT md5('activate' || r.id), 'activate', 'activate', r.project_id, r.id, 'succeeded',
           r.user_id, 'default', 'agent1/activator/1', md5('arun' || r.id), 3,
           jsonb_build_object('version', r.version), '{}'::jsonb, r.activated_at,
           r.activated_at, r.activated_at + interval '1 second', 1
    FROM release_requests AS r WHERE r.activated_at IS NOT NULL
    """,
    # the build logs: a few chunks per build, as ingest stores them
    """
    INSERT INTO task_logs (task_id, run_id, seq, text, created_at)
    SELECT t.id, t.run_id, c, repeat('[' || c || '] compiling module ' || md5(t.id || c)
                                     || ' ... ok' || chr(10), 6), t.started_at
    FROM tasks AS t CROSS JOIN generate_series(1, %(chunks)s) AS c WHERE t.kind = 'build'
    """,
    # ready on both servers, unless the build failed or runs
    """
    INSERT INTO release_targets (release_id, server_id, state, manifest_sha256, updated_at)
    SELECT r.id, s.id, 'ready', md5('m' || r.id) || md5('n' || r.id), r.created_at
    FROM release_requests AS r JOIN servers AS s ON s.project_id = r.project_id
    WHERE r.status NOT IN ('failed', 'building')
    """,
    """UPDATE projects SET build_counter = %(count)s / %(projects)s + 1""",
]

_ISO_FUNCTION = """
CREATE FUNCTION pg_temp.iso(t timestamptz) RETURNS text IMMUTABLE LANGUAGE sql AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') $$
"""


def seed(url: str, count: int) -> tuple[list[str], str]:
    """Fill the database; returns the project names and an admin's API token."""
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = users.create_user(session, "bench", "admin", password=PASSWORD)
            token, _ = users.issue_token(session, user, "bench")
            names = ["shop-%02d" % n for n in range(PROJECTS)]
            for n, name in enumerate(names):
                projects.create_project(session, {
                    "name": name, "repository": "/srv/git/%s.git" % name,
                    "deploy_path": "apps/" + name,
                    "servers": [{"host": "10.0.%d.%d" % (n, i + 1), "user": "deploy"}
                                for i in range(2)],
                    "scripts": {"build": "make dist", "migration": "./migrate.sh"}}, user)
            user_id = user.id
    finally:
        engine.dispose()
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(_ISO_FUNCTION.replace("pg_temp.iso", "iso_utc"))
            params = {"user": user_id, "count": count, "projects": PROJECTS,
                      "building": BUILDING, "chunks": LOG_CHUNKS}
            for statement in _SEED_SQL:
                cursor.execute(statement.replace("iso(", "iso_utc("), params)
            cursor.execute("DROP FUNCTION iso_utc(timestamptz)")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    finally:
        connection.close()
    return names, token


# -- measuring -------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the table."""

    what: str
    measured: str
    goal: str = "-"
    anchor: str = "-"
    ratio: str = "-"
    load: str = "-"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print("  %s: %s (anchor %s, ratio %s, load %s)" % (
            row.what, row.measured, row.anchor, row.ratio, row.load), flush=True)

    def table(self) -> str:
        lines = ["| what | rds | goal | anchor | ratio | load avg (1 min) |",
                 "|---|---|---|---|---|---|"]
        lines += ["| %s | %s | %s | %s | %s | %s |" % (
            r.what, r.measured, r.goal, r.anchor, r.ratio, r.load) for r in self.rows]
        return "\n".join(lines)


def load() -> str:
    return "%.1f" % os.getloadavg()[0]


def percentile(timings: list[float], fraction: float) -> float:
    ordered = sorted(timings)
    return ordered[max(int(round(len(ordered) * fraction)) - 1, 0)]


def timed(fn: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of ``count`` calls of ``fn`` (after one warm-up call)."""
    fn()
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def ms(value: float) -> str:
    return "%.0f ms" % value if value >= 10 else "%.1f ms" % value


def latency_row(report: Report, what: str, goal: str, rds: list[float],
                plain: list[float] | None, plain_name: str, cpu: str = "") -> None:
    p50, p95 = statistics.median(rds), percentile(rds, 0.95)
    row = Row(what, "p50 %s, p95 %s%s" % (ms(p50), ms(p95), cpu), goal=goal, load=load())
    if plain is not None:
        plain_p95 = percentile(plain, 0.95)
        row.anchor = "%s p95 %s" % (plain_name, ms(plain_p95))
        row.ratio = "%.1fx" % (p95 / plain_p95)
    report.add(row)


class Http:
    """GETs on one keep-alive connection (what a browser or API client holds)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = headers or {}

    def get(self, path: str) -> bytes:
        try:
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # gunicorn closes a keep-alive connection idle for 2 s: reconnect, as browsers do
            self.connection.close()
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError("GET %s: %d %s" % (path, response.status,
                                                   body[:300].decode(errors="replace")))
        return body

    def close(self) -> None:
        self.connection.close()


def login_cookie(port: int) -> str:
    """The session cookie of the bench user, logged in through the UI."""
    base = "http://127.0.0.1:%d" % port
    with requests.Session() as browser:
        page = browser.get(base + "/login", timeout=30).text
        found = re.search(r'name="csrf-token" content="([^"]+)"', page)
        if found is None:
            raise RuntimeError("no CSRF token on /login")
        response = browser.post(base + "/login", data={
            "username": "bench", "password": PASSWORD, "csrf_token": found.group(1)},
            allow_redirects=False, timeout=30)
        if response.status_code != 302:
            raise RuntimeError("login failed: %d" % response.status_code)
        return "; ".join("%s=%s" % (c.name, c.value) for c in browser.cookies)


@contextmanager
def gunicorn(app: str, env: dict[str, str], log_path: str) -> Iterator[tuple[int, int]]:
    """Serve ``app`` with the command ``rds_testing.localrun`` uses for web; yields
    ``(port, master pid)``."""
    port = free_port()
    command = localrun.command_for("web", port)
    command[-1] = app
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=localrun.REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get("http://127.0.0.1:%d/health" % port, timeout=5)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    with open(log_path, errors="replace") as handle:
                        raise RuntimeError("gunicorn did not start:\n" + handle.read()[-2000:])
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Load:
    """What ``clients`` concurrent clients got in a run."""

    rate: float
    timings: list[float]
    errors: int = 0
    first_error: str | None = None

    def describe(self) -> str:
        text = "%.0f req/s, p95 %s" % (self.rate, ms(percentile(self.timings, 0.95)))
        if self.errors:
            text += ", %d failed (%s)" % (self.errors, self.first_error)
        return text


def under_load(port: int, headers: dict[str, str], paths: Callable[[random.Random], str],
               clients: int, seconds: float) -> Load:
    """``clients`` threads GET ``paths()`` back to back for ``seconds``; a failed request
    (not 200) is counted and the client goes on (on a new connection)."""
    timings: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    stop_at = [time.perf_counter() + seconds + 120]  # moved once every client is connected

    def client(index: int) -> None:
        rng = random.Random(index)
        http_client = Http(port, headers)
        try:
            http_client.get(paths(rng))  # connect and warm up
        finally:
            start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            started = time.perf_counter()
            try:
                http_client.get(paths(rng))
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                errors.append(str(exc).strip()[:200])
                http_client.close()
                http_client = Http(port, headers)
                continue
            timings[index].append((time.perf_counter() - started) * 1000)
        http_client.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [t for ts in timings for t in ts]
    return Load(len(every) / elapsed, every, len(errors), errors[0] if errors else None)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def tail(path: str, lines: int = 30) -> str:
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def optional(module: str) -> ModuleType | None:
    """``bench/<module>.py`` if present (written separately), else None."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


# -- the scenarios ---------------------------------------------------------------------

class CpuMeter:
    """CPU time the web workers and the database's backends spend, per request."""

    def __init__(self, master: int, cursor: Any) -> None:
        self.workers = children(master)
        self.cursor = cursor
        self.start()

    def start(self) -> None:
        self.backends = database_backends(self.cursor)
        self.web, self.db = cpu_seconds(self.workers), cpu_seconds(self.backends)

    def per_request(self, requests: int) -> tuple[float, float]:
        """``(web ms, PostgreSQL ms)`` per request since :meth:`start`."""
        backends = sorted(set(self.backends) | set(database_backends(self.cursor)))
        web = (cpu_seconds(self.workers) - self.web) * 1000 / max(requests, 1)
        return web, (cpu_seconds(backends) - self.db) * 1000 / max(requests, 1)

    def text(self, requests: int) -> str:
        return "; CPU web %.1f + PostgreSQL %.1f ms" % self.per_request(requests)


def database_backends(cursor: Any) -> list[int]:
    """The PostgreSQL server processes connected to the bench's database."""
    cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                   " AND pid <> pg_backend_pid()")
    return [pid for (pid,) in cursor.fetchall()]


def plain_board_page(cursor: Any, before: int | None) -> list[tuple[Any, ...]]:
    """The anchor: 25 releases with their tasks and targets, in one plain query."""
    cursor.execute("""
        SELECT r.*, (SELECT json_agg(t) FROM tasks AS t WHERE t.release_id = r.id),
               (SELECT json_agg(x) FROM release_targets AS x WHERE x.release_id = r.id)
        FROM release_requests AS r WHERE r.id < %s ORDER BY r.id DESC LIMIT 25""",
                   (before if before is not None else 2 ** 31 - 1,))
    return list(cursor.fetchall())


def plain_release_list(cursor: Any, project: str, before: list[int] | None) -> list[Any]:
    """The anchor: 500 releases of a project with their tasks and targets, plainly."""
    cursor.execute("""
        SELECT r.*, (SELECT json_agg(t) FROM tasks AS t WHERE t.release_id = r.id),
               (SELECT json_agg(x) FROM release_targets AS x WHERE x.release_id = r.id)
        FROM release_requests AS r JOIN projects AS p ON p.id = r.project_id
        WHERE p.name = %s AND r.version_key < %s ORDER BY r.version_key DESC LIMIT 500""",
                   (project, before or [2 ** 31 - 1]))
    return list(cursor.fetchall())


def web_rows(report: Report, url: str, names: list[str], token: str, env: dict[str, str],
             var_dir: str, count: int, requests_each: int, clients: int,
             seconds: float) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    cursor = connection.cursor()
    cursor.execute("SELECT id FROM release_requests ORDER BY id DESC OFFSET %s LIMIT 1",
                   (count * 9 // 10,))
    deep_id = cursor.fetchone()[0]
    project = names[7]
    cursor.execute("""SELECT r.version FROM release_requests AS r JOIN projects AS p
                      ON p.id = r.project_id WHERE p.name = %s
                      ORDER BY r.version_key DESC OFFSET %s LIMIT 1""",
                   (project, max(min(count // PROJECTS * 9 // 10, count // PROJECTS - 500), 0)))
    deep_version = cursor.fetchone()[0]
    cursor.execute("SELECT version_key FROM release_requests WHERE version = %s",
                   (deep_version,))
    deep_key = cursor.fetchone()[0]
    cursor.execute("SELECT min(id), max(id) FROM release_requests")
    low, high = cursor.fetchone()
    api = {"Authorization": "Bearer " + token}
    log = os.path.join(var_dir, "web.log")
    with gunicorn("rds_web.wsgi:app", env, log) as (port, master):
        meter = CpuMeter(master, cursor)
        browser = Http(port, {"Cookie": login_cookie(port)})
        for what, path, before in (("board, first page", "/", None),
                                   ("board, 90% deep (keyset cursor)", "/?before=%d" % deep_id,
                                    deep_id)):
            meter.start()
            rds = timed(lambda: browser.get(path), requests_each)
            cpu = meter.text(requests_each + 1)
            plain = timed(lambda: plain_board_page(cursor, before), requests_each)
            latency_row(report, what, "p95 < 100 ms", rds, plain, "plain SELECT", cpu)
        browser.close()
        client = Http(port, api)
        base = "/api/v1/projects/%s/releases?limit=500" % project
        for what, path, key in (("API release list, limit=500, first page", base, None),
                                ("API release list, limit=500, 90% deep",
                                 base + "&before=" + deep_version, deep_key)):
            meter.start()
            rds = timed(lambda: client.get(path), requests_each)
            cpu = meter.text(requests_each + 1)
            plain = timed(lambda: plain_release_list(cursor, project, key), requests_each)
            latency_row(report, what, "p95 < 150 ms", rds, plain, "plain SELECT", cpu)
        client.close()

        def mix(rng: random.Random) -> str:
            draw = rng.random()
            if draw < 0.45:
                return "/api/v1/releases/%d" % rng.randint(low, high)
            if draw < 0.9:
                path = "/api/v1/projects/%s/releases" % rng.choice(names)
                if rng.random() < 0.3:
                    path += "?before=1.00.%03d.%d" % (rng.randint(2, count // PROJECTS),
                                                      count)
                return path
            return "/api/v1/projects"

        meter.start()
        api_load = under_load(port, api, mix, clients, seconds)
        row_load = load()
        web_ms, db_ms = meter.per_request(len(api_load.timings) + api_load.errors + clients)
    if api_load.errors:
        print("web log (end):\n" + tail(log), flush=True)
    with gunicorn("hello:app", env, log) as (port, _):
        hello = under_load(port, {}, lambda rng: "/hello", clients, min(seconds, 5.0))
    report.add(Row("API, %d concurrent clients (list/show mix)" % clients,
                   api_load.describe(), goal=">= 200 req/s, p95 < 150 ms",
                   anchor="bare Flask hello " + hello.describe(),
                   ratio="%.2fx" % (api_load.rate / hello.rate), load=row_load))
    cores = os.cpu_count() or 1
    report.add(Row("API mix, CPU per request", "web %.1f ms + PostgreSQL %.1f ms" % (
        web_ms, db_ms), goal="<= %.1f ms for 200 req/s on %d cores" % (1000 * cores / 200,
                                                                       cores),
        anchor="%d cores / that: %.0f req/s at most" % (cores, 1000 * cores / (web_ms + db_ms)),
        load=row_load))
    connection.close()


def ingest_rows(report: Report, events: int) -> None:
    module = optional("ingest_rate")
    if module is None:
        report.add(Row("ingest burst rate", "not available (bench/ingest_rate.py missing)",
                       goal=">= 2,000 events/s; 2 copies >= 1.7x"))
        return
    one = module.measure(copies=1, events=events)
    report.add(Row("ingest, one copy (%d events)" % events, "%.0f events/s" % one,
                   goal=">= 2,000 events/s", load=load()))
    two = module.measure(copies=2, events=events)
    report.add(Row("ingest, two copies (%d events)" % events, "%.0f events/s" % two,
                   goal=">= 1.7x one copy", anchor="one copy %.0f events/s" % one,
                   ratio="%.2fx" % (two / one), load=load()))


def _format_result(result: dict[str, Any]) -> str:
    """One stream row: how many connected, how fast a change reached them, what it cost."""
    return ("%s of %s connected (%s refused, %s missed a change); median %.0f ms, p95 %.0f ms, "
            "slowest %.0f ms; %s database connections opened per change" % (
                result["connected"], result["streams"], result["refused"], result["missed"],
                result["median_ms"], result["p95_ms"], result["slowest_ms"],
                result.get("connections_opened_per_change", "-")))


def stream_rows(report: Report, streams: int) -> None:
    module = optional("streams")
    if module is None:
        report.add(Row("live streams", "not available (bench/streams.py missing)",
                       goal="100 streams per process, each updated < 0.5 s"))
        return
    result = module.measure(streams=streams)
    report.add(Row("%d live streams, one change" % streams, _format_result(result),
                   goal="every stream updated < 0.5 s", load=load()))


def main() -> int:
    count = env_int("BENCH_RELEASES", 100_000)
    requests_each = env_int("BENCH_REQUESTS", 60)
    clients = env_int("BENCH_CLIENTS", 20)
    seconds = float(os.environ.get("BENCH_SECONDS", "15"))
    report = Report()
    admin_url = os.environ.get("RDS_TEST_ADMIN_DB_URL", infra.DEFAULT_ADMIN_DB_URL)
    url = infra.create_database(admin_url, name=infra.unique_name("rds_bench"))
    var_dir = tempfile.mkdtemp(prefix="rds-bench-")
    began = time.perf_counter()
    try:
        upgrade(url)
        started = time.perf_counter()
        names, token = seed(url, count)
        print("seeded %d releases in %d projects in %.1fs (load %s)"
              % (count, len(names), time.perf_counter() - started, load()), flush=True)
        with open(os.path.join(var_dir, "hello.py"), "w") as handle:
            handle.write(HELLO_APP)
        env = localrun.service_env(var_dir, url, os.environ.get(
            "RDS_AMQP_URI", infra.DEFAULT_AMQP_URI))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [var_dir, env.get("PYTHONPATH")]))
        web_rows(report, url, names, token, env, var_dir, count, requests_each, clients,
                 seconds)
    finally:
        infra.drop_database(url, admin_url)
        shutil.rmtree(var_dir, ignore_errors=True)
    failed = 0
    for title, section in (
            ("ingest burst rate", lambda: ingest_rows(report, env_int("BENCH_EVENTS", 22_000))),
            ("live streams", lambda: stream_rows(report, env_int("BENCH_STREAMS", 100)))):
        try:  # one section failing still prints the table of the others
            section()
        except Exception as exc:
            traceback.print_exc()
            report.add(Row(title, "failed: %s" % str(exc).strip()[:200]))
            failed += 1
    print()
    print("control plane with %d releases (%d requests per latency row, %d clients for %.0f s;"
          " %d cores; %.0f s in all)" % (count, requests_each, clients, seconds,
                                         os.cpu_count() or 0, time.perf_counter() - began))
    print(report.table())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
