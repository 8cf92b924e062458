"""Release lines: the current one, starting a new one, numbering on it, numeric order."""
import pytest
from sqlalchemy import select

from rds_control import lines, releases
from rds_control.errors import InvalidInput
from rds_core.versions import version_key
from rds_db.models import AuditEntry, ProjectLineCounter, ReleaseRequest, Task
from rds_db.models.base import utcnow


def build(db_session, project, alice, **data):
    release = releases.create_release(db_session, project.name, data, alice)
    db_session.query(Task).filter_by(release_id=release.id).update({"finished_at": utcnow()})
    return release.version


def test_a_new_line_restarts_the_line_counter_and_becomes_current(db_session, make_project,
                                                                  alice):
    project = make_project()
    assert lines.current_line(db_session, project) == 1
    assert [build(db_session, project, alice) for _ in range(2)] == ["1.00.001.1", "1.00.002.2"]
    assert lines.create_line(db_session, project.name, {"name": "2027 rewrite"}, alice) == 2
    assert (lines.current_line(db_session, project), lines.project_lines(db_session, project)) \
        == (2, [1, 2])
    assert build(db_session, project, alice) == "2.00.001.3"
    assert build(db_session, project, alice, release_line=1) == "1.00.003.4"
    assert build(db_session, project, alice) == "2.00.002.5"
    versions = list(db_session.scalars(select(ReleaseRequest.version).where(
        ReleaseRequest.project_id == project.id).order_by(ReleaseRequest.version_key.desc())))
    assert versions == ["2.00.002.5", "2.00.001.3", "1.00.003.4", "1.00.002.2", "1.00.001.1"]
    assert versions == sorted(versions, key=version_key, reverse=True)
    entry = db_session.scalars(select(AuditEntry).where(
        AuditEntry.project_id == project.id, AuditEntry.action == "line.created")).one()
    assert "2027 rewrite" in entry.message and entry.details["line"] == 2


def test_a_line_number_can_be_chosen_and_jumps_are_allowed(db_session, make_project, alice):
    project = make_project()
    assert lines.create_line(db_session, project.name, {"number": 10}, alice) == 10
    assert build(db_session, project, alice) == "10.00.001.1"


@pytest.mark.parametrize("data, field", [
    ({"number": 1}, "number"),
    ({"number": 0}, "number"),
    ({"number": "two"}, "number"),
    ({"number": 10_000}, "number"),
    ({"name": "x" * 101}, "name"),
    ({"kind": "major"}, "kind"),
])
def test_bad_line_input_names_the_field_and_saves_nothing(db_session, make_project, alice,
                                                          data, field):
    project = make_project()
    with pytest.raises(InvalidInput) as refused:
        lines.create_line(db_session, project.name, data, alice)
    assert refused.value.field == field
    assert db_session.scalars(select(ProjectLineCounter).where(
        ProjectLineCounter.project_id == project.id)).all() == []


def test_a_release_on_an_unknown_line_is_refused(db_session, make_project, alice):
    project = make_project()
    with pytest.raises(InvalidInput, match="no release line 3") as refused:
        releases.create_release(db_session, project.name, {"release_line": 3}, alice)
    assert refused.value.field == "release_line"
    assert db_session.scalars(select(ReleaseRequest).where(
        ReleaseRequest.project_id == project.id)).all() == []
