"""Release lines of a project: which one is current, and starting a new one.

A version is ``<line>.00.<NNN>.<M>`` (``rds_core.versions``). The lines a
project has are the first line (the lowest in ``release_lines``) and its
rows in ``project_line_counters`` (one NNN counter per line); the
**current** line, where new releases go unless a request names another, is
the highest of them. Starting a new line
adds its counter row at 0, so the next version is ``<line>.00.001.<M>``
(the build counter M keeps counting across lines). Versions still compare
numerically everywhere (``version_key``), so ``2.00.001.9`` sorts after
``1.00.999.8``.
"""
from typing import Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_control import audit
from rds_control.changes import record_change
from rds_control.errors import Conflict, InvalidInput
from rds_control.inputs import ONE_LINE, STRIP, Input, limits, parse
from rds_control.projects import get_project
from rds_db.models import Project, ProjectLineCounter, ReleaseLine, User

#: The highest line number accepted (versions stay short and readable).
MAX_LINE = 9999


class LineInput(Input):
    number: int | None = Field(default=None, ge=1, le=MAX_LINE, strict=True)
    name: Annotated[str, STRIP, ONE_LINE, limits(100, min_length=0)] = ""


def _default_line(session: Session) -> int:
    line = session.scalar(select(ReleaseLine.number).order_by(ReleaseLine.number).limit(1))
    if line is None:
        raise Conflict("no release line exists; run `rds db upgrade`")
    return line


def project_lines(session: Session, project: Project) -> list[int]:
    """Every line the project has (the first line, and those started or released on)."""
    used = set(session.scalars(select(ProjectLineCounter.line).where(
        ProjectLineCounter.project_id == project.id)))
    return sorted(used | {_default_line(session)})


def current_line(session: Session, project: Project) -> int:
    """The line new releases of the project go to unless they name another."""
    return project_lines(session, project)[-1]


def release_line_for(session: Session, project: Project, requested: int | None) -> int:
    """The line a new release goes to: ``requested`` if the project has it, else refused."""
    lines = project_lines(session, project)
    if requested is None:
        return lines[-1]
    if requested not in lines:
        raise InvalidInput("release_line: project %s has no release line %d (its lines: %s)"
                           % (project.name, requested, ", ".join(map(str, lines))),
                           field="release_line")
    return requested


def create_line(session: Session, project_name: str, data: object,
                user: User | None) -> int:
    """Start a new release line for a project (default: current + 1); returns its number."""
    values = parse(LineInput, data)
    project = get_project(session, project_name, lock=True)
    current = current_line(session, project)
    number = values.number if values.number is not None else current + 1
    if number <= current:
        raise InvalidInput("number: a new release line must be above the current line %d"
                           % current, field="number")
    if number > MAX_LINE:
        raise InvalidInput("number: release lines go up to %d" % MAX_LINE, field="number")
    if session.scalar(select(ReleaseLine.id).where(ReleaseLine.number == number)) is None:
        session.add(ReleaseLine(number=number, name=values.name or "line %d" % number))
    session.add(ProjectLineCounter(project_id=project.id, line=number, counter=0))
    session.flush()
    audit.record(session, "line.created", "Started release line %d of %s (was %d)%s"
                 % (number, project.name, current,
                    ": %s" % values.name if values.name else ""),
                 user=user, project=project, line=number)
    record_change(session, "project", project_id=project.id)
    return number
