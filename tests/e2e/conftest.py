"""Shared fixtures of the end-to-end tests: a project on a fresh git repository."""
import uuid

import pytest

from tests.e2e.helpers import BUILD_SCRIPT, new_repo


@pytest.fixture
def project(rds_system, tmp_path):
    """A project on a fresh local repository, deployed to both app servers."""
    repo = new_repo(tmp_path / "repo", "hello from v1")
    name = "e2e-%s" % uuid.uuid4().hex[:8]
    rds_system.api.post("/projects", {
        "name": name, "repository": str(repo), "default_ref": "main",
        "deploy_path": "apps/%s" % name, "servers": rds_system.server_specs(),
        "scripts": {"build": BUILD_SCRIPT}})
    return name, repo


