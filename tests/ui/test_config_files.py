"""A config file saved in the browser reaches both real sshd servers; its history
shows who pushed what where, and the diff between two versions side by side."""
import os
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import config_pushed
from tests.ui.test_release_board import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.ui]


def test_a_config_saved_in_the_browser_reaches_both_servers(rds_system, page):
    name = "ui-cfg-%s" % uuid.uuid4().hex[:8]
    rds_system.api.post("/projects", {
        "name": name, "repository": "/nonexistent.git", "deploy_path": "apps/" + name,
        "servers": rds_system.server_specs(), "scripts": {"build": "true"}})
    log_in(page, rds_system.url)
    page.goto(rds_system.url + "/projects/" + name)
    page.locator("#config-files-link").click()
    form = page.locator("#new-config")
    form.locator("input[name=filename]").fill("config/local.yml")
    form.locator("textarea[name=content]").fill("db: primary\npool: 5\n")
    form.locator("input[name=comment]").fill("first cut")
    page.locator("#config-create").click()
    expect(page.locator(".flash-success")).to_contain_text("Saved config/local.yml (version 1)")

    page.locator("#config-edit textarea[name=content]").fill("db: replica\npool: 5\n")
    page.locator("#config-edit input[name=comment]").fill("read from the replica")
    page.locator("#config-save").click()
    expect(page.locator(".flash-success")).to_contain_text("version 2")
    assert config_pushed(rds_system.api, name, "config/local.yml", 2)["upload_state"] == "pushed"
    for server in rds_system.app_servers:
        path = server.path("apps", name, "shared", "config", "config", "local.yml")
        assert open(path).read() == "db: replica\npool: 5\n"
        assert oct(os.stat(path).st_mode & 0o777) == "0o640"

    page.reload()
    history = page.locator("#config-history")
    expect(history.locator("tr", has_text="read from the replica")).to_contain_text("pushed")
    expect(history.locator("tr", has_text="read from the replica")).to_contain_text("admin")
    page.locator("#compare button").click()
    expect(page.locator("#diff tr.chg")).to_contain_text("db: replica")
    expect(page.locator("#diff tr.chg")).to_contain_text("db: primary")
    page.goto(rds_system.url + "/projects/%s/configs/config/local.yml/versions/2" % name)
    for server in rds_system.app_servers:
        expect(page.locator("#upload-state")).to_contain_text(server.user + "@127.0.0.1")
