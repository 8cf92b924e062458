"""Test data shared by several test folders (call inside a transaction of the test's own)."""
import uuid

from rds_control import projects, releases, users


def queued_release(session, prefix, host="10.0.0.1", pool=None):
    """A new deployer's new project ``<prefix>-…`` (one server, ``host``; agent pool
    ``pool``, else the default one) with its first release, whose build task is queued."""
    owner = users.create_user(session, "%s-%s" % (prefix, uuid.uuid4().hex[:6]), "deployer")
    data = {"name": "%s-%s" % (prefix, uuid.uuid4().hex[:6]),
            "repository": "/srv/git/%s.git" % prefix, "deploy_path": "apps/%s" % prefix,
            "servers": [{"host": host, "user": "deploy"}], "scripts": {"build": "make"}}
    if pool is not None:
        data["agent_pool"] = pool
    project = projects.create_project(session, data, owner)
    return releases.create_release(session, project.name, {}, owner)
