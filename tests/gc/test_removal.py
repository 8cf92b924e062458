"""Retention end to end: the plan, the removal tasks, the servers' disks, the database."""
from datetime import timedelta

from sqlalchemy import func, select

from rds_control import removal, retention
from rds_core.lifecycle import ReleaseStatus, TaskKind
from rds_db.models import AuditEntry, Project, ReleaseRequest, ReleaseTarget, Server, Task
from rds_db.models.base import utcnow
from rds_db.session import transaction
from tests.gc.helpers import DAY, add_release, on_disk, place, version

S = ReleaseStatus
HOUR = timedelta(hours=1)
SETTINGS = retention.RetentionSettings(min_age=DAY, discarded_age=6 * HOUR)

#: number → (status, age, extra fields). Live is 28 (previous: 20), keep_releases 5.
THIRTY = {
    30: (S.INSTALLED, HOUR, {}),             # newest: a keep slot
    29: (S.FAILED, 2 * DAY, {}),             # failed long ago: goes, takes no slot
    28: (S.USED, 3 * DAY, {"previous_version": version(20)}),  # live
    27: (S.CANCELLED, 2 * HOUR, {}),         # cancelled recently: stays for now
    26: (S.OLD, 4 * DAY, {}),                # a keep slot
    25: (S.OLD, 5 * DAY, {"deleted": DAY}),  # deleted a day ago: goes
    24: (S.OLD, 5 * DAY, {}),                # a keep slot
    23: (S.OLD, 6 * DAY, {"pinned": True}),  # pinned (and the last keep slot)
    22: (S.OLD, 7 * DAY, {}),                # goes, but server 2 serves it: drift
    21: (S.OLD, 8 * DAY, {"task": True}),    # a task runs on it
    20: (S.OLD, 9 * DAY, {}),                # the revert target
    19: (S.OLD, 40 * DAY, {"deactivated": 2 * HOUR}),  # was live two hours ago
    18: (S.FAILED, 10 * DAY, {}),
    13: (S.OLD, 15 * DAY, {"deleted": 2 * DAY}),
    15: (S.CANCELLED, 13 * DAY, {}),
    11: (S.OLD, 17 * DAY, {"pinned": True}),
}
for _n in range(1, 18):
    THIRTY.setdefault(_n, (S.OLD, (28 - _n) * DAY, {}))
KEPT = {30, 28, 27, 26, 24, 23, 21, 20, 19, 11}
REMOVED = set(THIRTY) - KEPT


def seed_thirty(session_factory, project_id):
    now = utcnow()
    with transaction(session_factory) as session:
        servers = session.scalars(select(Server.id).where(Server.project_id == project_id)
                                  .order_by(Server.id)).all()
        ids = {}
        for number, (status, age, extra) in sorted(THIRTY.items()):
            fields = {"pinned": extra.get("pinned", False),
                      "previous_version": extra.get("previous_version")}
            if "deleted" in extra:
                fields["deleted_at"] = now - extra["deleted"]
            if "deactivated" in extra:
                fields["deactivated_at"] = now - extra["deactivated"]
            ready = servers if status in retention.SUCCESSFUL else servers[:1]
            release = add_release(session, project_id, number, status, age, ready_on=ready,
                                  **fields)
            if extra.get("task"):
                session.add(Task(id="%032x" % release.id, kind=TaskKind.BUILD, lane="build",
                                 project_id=project_id, release_id=release.id,
                                 status="running", pool="default", command={}, steps={}))
            ids[number] = release.id
        return ids


def test_thirty_releases_in_mixed_states_lose_exactly_what_the_plan_says(
        session_factory, make_project, app_servers, deploy_path, gc_agent):
    project_id, name = make_project(keep_releases=5)
    ids = seed_thirty(session_factory, project_id)
    every = [version(n) for n in THIRTY if THIRTY[n][0] != S.CANCELLED]
    place(app_servers[0], deploy_path, every, current=version(28))
    place(app_servers[1], deploy_path, every, current=version(22))  # drift

    with transaction(session_factory) as session:
        plan = removal.project_plan(session, session.get(Project, project_id), SETTINGS)
        assert {d.release.id for d in plan.to_remove} == {ids[n] for n in REMOVED}
        tasks = removal.schedule_removals(session, project_id, SETTINGS)
    assert len(tasks) == len(REMOVED) == 20

    gc_agent.run(tasks)

    gone = {version(n) for n in REMOVED}
    assert on_disk(app_servers[0], deploy_path) == sorted(set(every) - gone)
    assert on_disk(app_servers[1], deploy_path) == sorted(set(every) - gone | {version(22)})
    with open(app_servers[1].path(deploy_path, "current", "index.html")) as handle:
        assert handle.read() == version(22)  # what it served, it still serves
    with transaction(session_factory) as session:
        destroyed = {r.version for r in session.scalars(select(ReleaseRequest).where(
            ReleaseRequest.project_id == project_id, ReleaseRequest.destroyed_at.is_not(None)))}
        assert destroyed == gone - {version(22)}
        targets = dict(session.execute(select(ReleaseTarget.server_id, ReleaseTarget.state)
                                       .where(ReleaseTarget.release_id == ids[22])).all())
        first, second = session.scalars(select(Server).where(
            Server.project_id == project_id).order_by(Server.id)).all()
        assert targets == {first.id: "removed", second.id: "ready"}
        assert second.drift and second.drift[0]["kind"] == "current"
        assert version(22) in second.drift[0]["detail"] and first.drift == []
        statuses = dict(session.execute(select(Task.release_id, Task.status).where(
            Task.kind == TaskKind.REMOVE, Task.project_id == project_id)).all())
        assert statuses[ids[22]] == "failed"
        assert {s for rid, s in statuses.items() if rid != ids[22]} == {"succeeded"}

        # within retry_after nothing is rescheduled; after it, 22 is tried again and
        # refused again, and the unchanged drift is not audited a second time
        assert removal.schedule_removals(session, project_id, SETTINGS) == []
        again = removal.schedule_removals(session, project_id, SETTINGS,
                                              now=utcnow() + 2 * HOUR)
        assert len(again) == 1
    gc_agent.run(again)
    assert on_disk(app_servers[1], deploy_path).count(version(22)) == 1
    with transaction(session_factory) as session:
        drift_audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "server.drift", AuditEntry.project_id == project_id))
        assert drift_audits == 1
        assert session.get(ReleaseRequest, ids[22]).destroyed_at is None


def test_an_unreachable_server_keeps_the_release_undestroyed_until_a_later_run(
        session_factory, make_project, app_servers, deploy_path, gc_agent):
    real = {"host": "127.0.0.1", "port": app_servers[1].port, "user": app_servers[1].user}
    dead = dict(real, port=1)
    project_id, name = make_project(keep_releases=2, servers=[
        {"host": "127.0.0.1", "port": app_servers[0].port, "user": app_servers[0].user}, dead])
    with transaction(session_factory) as session:
        for number in (1, 2, 3):
            add_release(session, project_id, number, S.OLD, (10 - number) * DAY)
    for server in app_servers:
        place(server, deploy_path, [version(n) for n in (1, 2, 3)])

    with transaction(session_factory) as session:
        tasks = removal.schedule_removals(session, project_id, SETTINGS)
    gc_agent.run(tasks)

    assert on_disk(app_servers[0], deploy_path) == [version(2), version(3)]
    with transaction(session_factory) as session:
        oldest = session.scalars(select(ReleaseRequest).where(
            ReleaseRequest.project_id == project_id, ReleaseRequest.version == version(1))).one()
        assert oldest.destroyed_at is None
        task = session.scalars(select(Task).where(Task.release_id == oldest.id)).one()
        assert task.status == "failed" and "connection refused" in task.error
        # the server comes back (here: its address is fixed)
        session.scalars(select(Server).where(Server.project_id == project_id,
                                             Server.port == 1)).one().port = real["port"]
    with transaction(session_factory) as session:
        later = removal.schedule_removals(session, project_id, SETTINGS,
                                              now=utcnow() + 2 * HOUR)
    gc_agent.run(later)

    assert [on_disk(s, deploy_path) for s in app_servers] == [[version(2), version(3)]] * 2
    with transaction(session_factory) as session:
        assert session.get(ReleaseRequest, oldest.id).destroyed_at is not None


def test_a_pinned_release_survives_and_the_remove_script_runs_instead(
        session_factory, make_project, app_servers, deploy_path, gc_agent, tmp_path):
    marker = tmp_path / "removed.txt"
    project_id, name = make_project(keep_releases=2, scripts={
        "remove": "echo \"$projectName $version $servers\" >> %s" % marker})
    with transaction(session_factory) as session:
        for number in (1, 2, 3, 4):
            add_release(session, project_id, number, S.OLD, (10 - number) * DAY,
                        pinned=number == 1)
        tasks = removal.schedule_removals(session, project_id, SETTINGS)
    gc_agent.run(tasks)

    assert marker.read_text() == "%s %s 127.0.0.1 127.0.0.1\n" % (name, version(2))
    with transaction(session_factory) as session:
        destroyed = {r.version: r.destroyed_at is not None for r in session.scalars(
            select(ReleaseRequest).where(ReleaseRequest.project_id == project_id))}
    assert destroyed == {version(1): False, version(2): True, version(3): False,
                         version(4): False}


def test_check_servers_reports_drift_once_per_change_and_sweeps_old_staging(
        session_factory, make_project, app_servers, deploy_path, gc_agent):
    project_id, name = make_project()
    with transaction(session_factory) as session:
        first, second = session.scalars(select(Server.id).where(
            Server.project_id == project_id).order_by(Server.id)).all()
        add_release(session, project_id, 1, S.OLD, 3 * DAY, ready_on=[first, second])
        add_release(session, project_id, 2, S.USED, 2 * DAY, ready_on=[first, second])
    place(app_servers[0], deploy_path, [version(1), version(2)], current=version(2))
    place(app_servers[1], deploy_path, [version(2), version(9), ".%s.partial-00aa" % version(3)],
          current=version(1))

    def check(now=None):
        with transaction(session_factory) as session:
            task = removal.check_servers(session, name)
            task_id = task.id
        gc_agent.run([task_id], now=now)
        with transaction(session_factory) as session:
            servers = session.scalars(select(Server).where(Server.project_id == project_id)
                                      .order_by(Server.id)).all()
            audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action.like("server.drift%"), AuditEntry.project_id == project_id))
            return [[i["kind"] for i in s.drift] for s in servers], audits

    assert check() == ([[], ["current", "missing", "unknown"]], 1)
    assert check() == ([[], ["current", "missing", "unknown"]], 1)  # unchanged: no audit
    staging = ".%s.partial-00aa" % version(3)
    assert staging in on_disk(app_servers[1], deploy_path)
    assert check(now=utcnow().timestamp() + 2 * 3600)[1] == 1  # an hour-old staging dir goes
    assert staging not in on_disk(app_servers[1], deploy_path)
