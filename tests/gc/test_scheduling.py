"""The pruner's timers: one project per unit of work, drift checks only when due."""
from datetime import timedelta

from sqlalchemy import select

from rds_control import removal
from rds_db.models import Project, Server, Task
from rds_db.models.base import utcnow
from rds_db.session import transaction


def inspections(session_factory, project_id):
    with transaction(session_factory) as session:
        return session.scalars(select(Task.id).where(Task.project_id == project_id,
                                                     Task.kind == "inspect")).all()


def test_servers_are_checked_when_due_and_an_unfinished_check_is_reused(
        session_factory, make_project):
    project_id, _ = make_project()
    with transaction(session_factory) as session:
        first = removal.schedule_inspection(session, project_id, interval=900)
        again = removal.schedule_inspection(session, project_id, interval=900)
    assert len(first) == 1 and again == first
    with transaction(session_factory) as session:
        session.get(Task, first[0]).finished_at = utcnow()
        for server in session.scalars(select(Server).where(Server.project_id == project_id)):
            server.inspected_at = utcnow()
        assert removal.schedule_inspection(session, project_id, interval=900) == []
        later = removal.schedule_inspection(session, project_id, interval=900,
                                            now=utcnow() + timedelta(seconds=901))
    assert len(later) == 1 and later != first
    assert len(inspections(session_factory, project_id)) == 2


def test_a_project_that_fails_does_not_stop_the_others(session_factory, make_project):
    first_id, _ = make_project()
    second_id, _ = make_project()
    seen = []

    def flaky(session, project_id):
        seen.append(project_id)
        if project_id == first_id:
            raise RuntimeError("broken project")
        return [session.get(Project, project_id).name]

    names = removal.run_for_every_project(session_factory, None, flaky)

    assert first_id in seen and second_id in seen
    assert len(names) == len(seen) - 1
