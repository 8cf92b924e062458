"""Helpers of the gc tests: release rows and release directories on the app servers."""
import os
import pwd
from datetime import timedelta

from rds_core import versions
from rds_db.models import ReleaseRequest, ReleaseTarget
from rds_db.models.base import utcnow


def version(number):
    return "1.00.%03d.%d" % (number, number)


def add_release(session, project_id, number, status, age, ready_on=(), **fields):
    """A release row as the build and activations would have left it."""
    now = utcnow()
    release = ReleaseRequest(
        project_id=project_id, version=version(number),
        version_key=list(versions.version_key(version(number))), release_line=1,
        status=status, comment="", ref="main", created_at=now - age, updated_at=now - age,
        **fields)
    session.add(release)
    session.flush()
    for server_id in ready_on:
        session.add(ReleaseTarget(release_id=release.id, server_id=server_id, state="ready",
                                  updated_at=now - age))
    return release


def place(app_server, deploy_path, versions_, current=None):
    """Release directories (with a file) and ``current`` on one server, owned by its login."""
    entry = pwd.getpwnam(app_server.user)
    root = app_server.path(deploy_path)
    for v in versions_:
        path = os.path.join(root, "releases", v)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "index.html"), "w") as handle:
            handle.write(v)
    if current is not None:
        os.symlink("releases/" + current, os.path.join(root, "current"))
    for top, dirs, files in os.walk(app_server.path(deploy_path.split("/")[0])):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)


def on_disk(app_server, deploy_path):
    path = app_server.path(deploy_path, "releases")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


DAY = timedelta(days=1)
