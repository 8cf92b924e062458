"""How fast is the release board with 10,000 releases?

Seeds a throwaway PostgreSQL database with 10,000 releases (40 projects,
each release with its build task and step timings, activations for the
released ones, one live per project, some failed, a few building), then
times GET / through the Flask app (test client, logged in, CSRF on) and
prints median and p95 per scenario. The database is dropped afterwards.

    .venv/bin/python bench/board.py [--releases 10000] [--requests 60]

Needs PostgreSQL at RDS_TEST_ADMIN_DB_URL (default postgres@127.0.0.1:5432).
"""
import argparse
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from rds_control import users
from rds_core import versions
from rds_db.migrate import upgrade
from rds_db.models import Project, ReleaseRequest, ReleaseTarget, Server, Task
from rds_db.session import make_engine, make_session_factory, transaction
from rds_testing import infra

PASSWORD = "bench-password"
PROJECTS = 40
STEPS = (("checkout", 2), ("build", 40), ("pack", 1), ("upload", 8))


class NoBus:
    def send_command(self, command, pool):
        pass

    def broadcast_command(self, command, pool):
        pass


def _steps(start, rng):
    steps, at = {}, start
    for name, seconds in STEPS:
        took = seconds * rng.uniform(0.7, 1.4)
        steps[name] = {"started": at.isoformat(),
                       "finished": (at + timedelta(seconds=took)).isoformat()}
        at += timedelta(seconds=took)
    return steps, at


def seed(session_factory, count, rng):
    """Insert ``count`` releases spread over the projects; returns the project names."""
    now = datetime.now(UTC)
    with transaction(session_factory) as session:
        user = users.create_user(session, "bench", "admin", password=PASSWORD)
        names = ["shop-%02d" % n for n in range(PROJECTS)]
        projects = [Project(name=name, repository="/srv/git/%s.git" % name,
                            deploy_path="apps/" + name, build_counter=0) for name in names]
        session.add_all(projects)
        session.flush()
        servers = []
        for project in projects:
            for n in range(2):
                servers.append(Server(project_id=project.id, host="10.0.%d.%d" % (
                    project.id % 250, n + 1), port=22, user="deploy", position=n))
        session.add_all(servers)
        session.flush()
        servers_of = {}
        for server in servers:
            servers_of.setdefault(server.project_id, []).append(server.id)
        per_project = {p.id: 0 for p in projects}
        # about 28 releases a day: 10,000 take a year
        releases, started_at = [], now - timedelta(minutes=count * 50)
        for n in range(count):
            project = projects[n % PROJECTS] if n < count - 200 else rng.choice(projects)
            per_project[project.id] += 1
            k = per_project[project.id]
            version = "1.00.%03d.%d" % (k, n + 1)
            created = started_at + timedelta(minutes=50 * n, seconds=rng.randint(0, 600))
            releases.append({
                "project_id": project.id, "version": version,
                "version_key": list(versions.version_key(version)), "release_line": 1,
                "status": "old", "user_id": user.id, "comment": "change #%d: %s" % (
                    n, uuid.uuid4().hex[:12]),
                "ref": "main", "commit": uuid.uuid4().hex + "abcdefgh",
                "build_attempts": 1, "created_at": created, "updated_at": created,
                "built_at": created + timedelta(minutes=1),
                "installed_at": created + timedelta(minutes=1),
                "activated_at": created + timedelta(minutes=2)})
        # the newest of each project is live, a few are failed, installed or building
        latest = {}
        for row in releases:
            latest[row["project_id"]] = row
        for row in releases:
            if rng.random() < 0.05:
                row.update(status="failed", activated_at=None,
                           last_error="build failed: build script exited with status 2")
        for row in latest.values():
            row.update(status="used", activated_at=row["created_at"] + timedelta(minutes=2))
        for row in rng.sample([r for r in releases[-300:] if r["status"] == "old"], 10):
            row.update(status="installed", activated_at=None)
        building = rng.sample(list(latest.values()), 5)
        ids = session.execute(insert(ReleaseRequest).returning(
            ReleaseRequest.id, ReleaseRequest.project_id), releases).all()
        tasks, targets = [], []
        for (release_id, project_id), row in zip(ids, releases):
            steps, finished = _steps(row["created_at"] + timedelta(seconds=5), rng)
            running = row in building
            failed = row["status"] == "failed"
            tasks.append({
                "id": uuid.uuid4().hex, "kind": "build", "lane": "build",
                "project_id": project_id, "release_id": release_id,
                "status": "running" if running else "failed" if failed else "succeeded",
                "pool": "default", "agent": "agent%d/builder/1" % (project_id % 3),
                "command": {"version": row["version"]}, "steps": steps,
                "created_at": row["created_at"],
                "started_at": row["created_at"] + timedelta(seconds=5),
                "finished_at": None if running else finished, "last_seq": 10,
                "error": row.get("last_error")})
            if row["activated_at"] is not None:
                tasks.append({
                    "id": uuid.uuid4().hex, "kind": "activate", "lane": "activate",
                    "project_id": project_id, "release_id": release_id,
                    "status": "succeeded", "pool": "default",
                    "agent": "agent1/activator/1", "command": {"version": row["version"]},
                    "steps": {}, "created_at": row["activated_at"],
                    "started_at": row["activated_at"],
                    "finished_at": row["activated_at"] + timedelta(seconds=1),
                    "last_seq": 3})
            if row["status"] != "failed":
                targets += [{"release_id": release_id, "server_id": server_id,
                             "state": "ready", "updated_at": row["created_at"]}
                            for server_id in servers_of[project_id]]
        session.execute(insert(Task), tasks)
        session.execute(insert(ReleaseTarget), targets)
        for project in projects:
            project.build_counter = count
    return names


def login(client):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "bench", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302, response.status_code


def measure(client, url, requests):
    client.get(url)  # warm up
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    return statistics.median(timings), timings[max(int(len(timings) * 0.95) - 1, 0)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    from rds_web import create_app

    admin_url = os.environ.get("RDS_TEST_ADMIN_DB_URL", infra.DEFAULT_ADMIN_DB_URL)
    url = infra.create_database(admin_url, name=infra.unique_name("rds_bench"))
    engine = None
    try:
        upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        names = seed(make_session_factory(engine), args.releases, random.Random(7))
        print("seeded %d releases in %d projects in %.1fs"
              % (args.releases, len(names), time.perf_counter() - started))
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "BUS_PUBLISHER": NoBus()})
        client = app.test_client()
        login(client)
        with engine.connect() as connection:  # the keyset cursor 90% down the board
            deep = connection.exec_driver_sql(
                "SELECT id FROM release_requests ORDER BY id DESC OFFSET %d LIMIT 1"
                % (args.releases * 9 // 10)).scalar()
        scenarios = [
            ("board, first page", "/"),
            ("board, 90% deep", "/?before=%d" % deep),
            ("board, one project", "/?project=%s" % names[3]),
            ("board, status=failed", "/?status=failed"),
            ("board, project + status", "/?project=%s&status=old&before=%d" % (names[5], deep)),
        ]
        print("%-26s %10s %10s   (%d requests each, Flask test client)"
              % ("GET", "median ms", "p95 ms", args.requests))
        for title, path in scenarios:
            median, p95 = measure(client, path, args.requests)
            print("%-26s %10.1f %10.1f" % (title, median, p95))
    finally:
        if engine is not None:
            engine.dispose()
        infra.drop_database(url, admin_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
