"""A deployer bans a project in the browser; the board shows the ban and refuses a release."""
import uuid

import pytest
from playwright.sync_api import expect

from tests.ui.test_release_board import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.ui]


def test_a_ban_set_in_the_browser_makes_the_board_refuse_a_release(rds_system, page):
    url, name = rds_system.url, "ban-%s" % uuid.uuid4().hex[:6]
    rds_system.api.post("/projects", {"name": name, "repository": "/srv/git/none.git",
                                      "deploy_path": "apps/" + name,
                                      "servers": rds_system.server_specs(),
                                      "scripts": {"build": "true"}})
    log_in(page, url)
    page.goto(url + "/projects/" + name)
    expect(page.locator("#no-bans")).to_be_visible()
    page.locator("#ban-open").click()
    page.locator("#ban-comment").fill("holiday freeze")
    page.locator("#ban-expires").fill("2099-12-24T18:00")
    page.locator("#ban-submit").click()
    expect(page.locator(".flash-success")).to_contain_text(
        "Banned releases of %s line 1 until 2099-12-24 18:00 UTC: holiday freeze" % name)

    page.goto(url + "/?project=" + name)
    ban = page.locator("tr.ban[data-project='%s']" % name)
    expect(ban).to_contain_text("holiday freeze")
    expect(ban).to_contain_text("admin")
    expect(ban.locator("time[datetime^='2099-12-24T18:00:00']")).to_have_count(1)
    page.locator("#new-release > summary").click()
    page.locator("#release-project").select_option(name)
    page.locator("#release-comment").fill("during the freeze")
    page.locator("#release-submit").click()
    expect(page.locator("#release-form .flash-error")).to_contain_text(
        "releases of %s on line 1 are banned: holiday freeze" % name)
    page.goto(url + "/?project=" + name)
    expect(page.locator("#release-count")).to_have_text("0 releases")

    ban.locator("button[data-action=lift-ban]").click()
    expect(page.locator(".flash-success")).to_contain_text("Lifted the release ban of %s" % name)
    expect(page.locator("tr.ban[data-project='%s']" % name)).to_have_count(0)
