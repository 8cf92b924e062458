"""Drift: where a server disagrees with what the database says it holds.

:func:`compare` (plain) turns one server's inventory (``current`` and the
entries of ``releases/``, read by the gc agent) and :class:`Expected` (what
the database says) into drift items:

* ``current``: ``current`` points elsewhere than the live release, is
  missing while a release is live, or exists while none is;
* ``missing``: a release the database has ready on this server (not removed)
  has no directory there;
* ``unknown``: a directory in ``releases/`` the database knows nothing about
  (or has removed), or an entry that is not a release at all.

:func:`record` stores a server's items and writes ONE audit entry when the
set changes (drift found, changed or resolved), never one per check.
"""
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rds_control import audit
from rds_control.changes import record_change
from rds_db.models import Project, Server

Item = dict[str, str]


@dataclass(frozen=True)
class Expected:
    """What the database says about one server of a project."""

    #: The live version (None: nothing is live).
    live: str | None
    #: Versions that should be on this server (uploaded there, not removed).
    present: frozenset[str] = frozenset()
    #: Every version of the project the database knows and has not removed.
    known: frozenset[str] = frozenset()
    #: An activation is running: ``current`` may be switching right now.
    switching: bool = False
    #: Versions being uploaded or removed right now (directories may come and go).
    busy: frozenset[str] = field(default_factory=frozenset)


def _version_of(current: str) -> str:
    return posixpath.basename(posixpath.normpath(current))


def compare(current: str | None, releases: Iterable[str], unknown: Iterable[str],
            expected: Expected) -> list[Item]:
    """Drift items of one server, in a stable order."""
    items: list[Item] = []
    if not expected.switching:
        serving = _version_of(current) if current else None
        if expected.live is None and current:
            items.append({"kind": "current", "detail": "current points at %s but rds has "
                          "no live release" % current})
        elif expected.live is not None and serving != expected.live:
            items.append({"kind": "current", "detail": "current points at %s, rds thinks %s "
                          "is live" % (current or "nothing (missing)", expected.live)})
    on_disk = set(releases)
    for version in sorted(expected.present - on_disk - expected.busy):
        items.append({"kind": "missing", "detail": "release %s is missing (rds thinks it is "
                      "installed here)" % version})
    for version in sorted(on_disk - expected.known - expected.busy):
        items.append({"kind": "unknown", "detail": "releases/%s is not a release rds knows "
                      "(or one it removed)" % version})
    for name in sorted(unknown):
        items.append({"kind": "unknown", "detail": "releases/%s is not a release directory"
                      % name})
    return items


def _describe(items: list[Item]) -> str:
    return "; ".join(item["detail"] for item in items)


def record(session: Session, server: Server, items: list[Item], actor: str) -> bool:
    """Store ``items`` as the server's drift; audit once if they changed. Returns changed."""
    before = list(server.drift or [])
    if before == items:
        return False
    server.drift = items
    project = server.project
    if items:
        audit.record(session, "server.drift", "Drift on %s of %s: %s" % (
            server.label, project.name, _describe(items)), actor=actor, project=project,
            server_id=server.id, drift=items)
    else:
        audit.record(session, "server.drift_resolved", "%s of %s agrees with rds again"
                     % (server.label, project.name), actor=actor, project=project,
                     server_id=server.id)
    record_change(session, "project", project_id=project.id)
    return True


def with_item(existing: Iterable[Item], item: Item) -> list[Item]:
    """The server's items with ``item`` replacing any item of its kind about the same thing."""
    return [i for i in existing if i["kind"] != item["kind"]] + [item]


def drifting(session: Session, project_name: str | None = None) -> list[tuple[str, Server]]:
    """``(project name, server)`` of every server with drift (of one project, if named)."""
    query = (select(Project.name, Server).join(Server, Server.project_id == Project.id)
             .where(func.jsonb_array_length(Server.drift) > 0)
             .order_by(Project.name, Server.position, Server.id))
    if project_name:
        query = query.where(Project.name == project_name)
    return [(name, server) for name, server in session.execute(query)]
