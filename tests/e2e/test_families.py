"""A parent and two child projects over real sshd, through the HTTP API: they build
together, the parent is installed only with its children, they go live together, one
child failing to activate switches every one back, and a revert moves all three."""
import os
import uuid

import pytest

from tests.e2e.helpers import BUILD_SCRIPT, installed, new_repo

pytestmark = pytest.mark.e2e


@pytest.fixture
def family(rds_system, tmp_path):
    names = []
    for role in ("front", "api", "jobs"):
        repo = new_repo(tmp_path / role, "%s v1" % role)
        name = "fam-%s-%s" % (role, uuid.uuid4().hex[:6])
        rds_system.api.post("/projects", {
            "name": name, "repository": str(repo), "deploy_path": "apps/%s" % name,
            "servers": rds_system.server_specs(), "scripts": {"build": BUILD_SCRIPT}})
        names.append(name)
    for child in names[1:]:
        rds_system.api.post("/projects/%s/children" % names[0], {"child": child})
    return names


def members(api, parent_release):
    """The parent's release and its children's, by project name."""
    found = {parent_release["project"]: parent_release}
    for project in api.get("/projects/%s/family" % parent_release["project"])["children"]:
        for release in api.get("/projects/%s/releases" % project)["releases"]:
            if release["comment"] == parent_release["comment"]:
                found[project] = release
    return found


def release_family(api, parent, comment):
    family = members(api, installed(api, parent, comment, timeout=240))
    assert {r["status"] for r in family.values()} == {"installed"}  # every child first
    return family


def live_versions(rds_system, names):
    versions = set()
    for name in names:
        for server in rds_system.app_servers:
            versions.add((name, os.readlink(os.path.join(server.path("apps", name), "current"))))
    return versions


def expect_live(rds_system, api, family):
    for release in family.values():
        api.wait_release(release["id"], {"used"}, timeout=120)
    assert live_versions(rds_system, family) == {
        (name, "releases/" + release["version"]) for name, release in family.items()}


def test_a_family_builds_goes_live_fails_back_and_reverts_together(rds_system, family):
    api = rds_system.api
    parent = family[0]
    v1 = release_family(api, parent, "v1")
    assert len(v1) == 3
    api.post("/releases/%d/activate" % v1[parent]["id"])
    expect_live(rds_system, api, v1)

    v2 = release_family(api, parent, "v2")
    api.post("/releases/%d/activate" % v2[parent]["id"])
    expect_live(rds_system, api, v2)

    # the third version of one child cannot go live (its upload on one server is
    # broken behind rds's back): the whole family ends back on v2, on every server
    v3 = release_family(api, parent, "v3")
    broken = rds_system.app_servers[1].path("apps", family[2], "releases",
                                            v3[family[2]]["version"], ".rds-manifest.json")
    os.remove(broken)
    api.post("/releases/%d/activate" % v3[parent]["id"])
    failed = api.wait_release(v3[family[2]]["id"], {"installed"}, timeout=120)
    assert "is not uploaded here" in failed["last_error"]
    for name in family[:2]:  # they went live, then were switched back
        assert api.wait_release(v3[name]["id"], {"old"}, timeout=120)["status"] == "old"
    expect_live(rds_system, api, v2)

    # a revert of the parent moves every member back to v1
    reverted = api.post("/projects/%s/revert" % parent)
    assert reverted["version"] == v1[parent]["version"]
    expect_live(rds_system, api, v1)
