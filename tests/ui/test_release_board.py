"""A person runs a release from creation to rollback in the browser alone,
watching the board update live (no reloads, no sleeps: Playwright's
auto-waiting ``expect`` on the DOM)."""
import os
import re
import shutil
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import commit_page, git, new_repo

pytestmark = [pytest.mark.e2e, pytest.mark.ui]

BUILD_SCRIPT = """#!/bin/bash
set -euo pipefail
echo "building $projectName $version"
printf '\\033[32mcompiling\\033[0m the site\\n'
sleep 2
mkdir -p public
cp page.txt public/index.html
echo "$version" > public/VERSION
echo "build finished"
"""
BUILD_TIMEOUT = 180_000
SWITCH_TIMEOUT = 120_000


@pytest.fixture
def repo(tmp_path):
    return new_repo(tmp_path / "site", "hello from v1")


def log_in(page, url):
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("admin-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-success")).to_contain_text("Welcome, admin.")


def create_project(page, url, name, repo, servers):
    page.goto(url + "/projects")
    page.locator("#new-project").click()
    form = page.locator("#project-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Git repository").fill(str(repo))
    form.get_by_label("Deploy path").fill("apps/" + name)
    form.get_by_label("Servers").fill("\n".join(
        "%s@%s:%d" % (s["user"], s["host"], s["port"]) for s in servers))
    form.get_by_label("Build script").fill(BUILD_SCRIPT)
    page.locator("#project-save").click()
    expect(page.locator(".flash-success")).to_have_text("Created project %s." % name)


def start_release(page, url, name, comment):
    page.goto(url + "/?project=" + name)
    page.locator("#new-release > summary").click()
    page.locator("#release-project").select_option(name)
    page.locator("#release-comment").fill(comment)
    page.locator("#release-submit").click()
    expect(page.locator(".flash-success")).to_contain_text("Started %s" % name)
    return page.locator("tr.release-row", has_text=comment)


def mark_page(page):
    """Leave a marker in the page's JS state: it survives only if nothing reloads."""
    page.evaluate("window.__rdsNoReload = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__rdsNoReload === true"), "the page was reloaded"


def test_release_from_creation_to_rollback_in_the_browser(rds_system, page, repo, artifacts):
    url, name = rds_system.url, "ui-%s" % uuid.uuid4().hex[:6]
    log_in(page, url)
    create_project(page, url, name, repo, rds_system.server_specs())

    # first release: the board shows it building, then installed, without a reload
    first = start_release(page, url, name, "first from the browser")
    expect(first).to_have_count(1)
    mark_page(page)
    expect(first.locator(".c-status .status")).to_have_attribute(
        "data-status", re.compile("new|building|built|installing|installed"))
    build_link = first.locator(".task-line a.task-kind", has_text="build")

    # the build page, opened mid-build, streams the rest of the log live
    build_link.click()
    expect(page.locator("h2")).to_contain_text("Build · %s" % name)
    mark_page(page)
    log = page.locator("#log")
    expect(log).to_contain_text("build finished", timeout=BUILD_TIMEOUT)
    expect(log.locator(".ansi-fg-2", has_text="compiling")).to_be_visible()
    expect(page.locator("#build-header")).to_have_attribute("data-status", "succeeded",
                                                            timeout=BUILD_TIMEOUT)
    expect(page.locator("table.phases")).to_contain_text("upload")
    assert_not_reloaded(page)
    page.screenshot(path=os.path.join(artifacts, "build.png"), animations="disabled")

    page.goto(url + "/?project=" + name)
    mark_page(page)
    expect(first).to_have_attribute("data-status", "installed", timeout=BUILD_TIMEOUT)
    expect(first.locator(".task-line")).to_contain_text(re.compile(r"/builder/\d+"))
    expect(first.locator(".steps")).to_contain_text(re.compile(r"(checkout|build|upload) \d"))

    # activate it: the row turns live
    first.locator("button[data-action=activate]").click()
    expect(page.locator(".flash-success")).to_contain_text("Activating %s" % name)
    mark_page(page)
    expect(first).to_have_attribute("data-status", "used", timeout=SWITCH_TIMEOUT)
    expect(first.locator(".live-badge")).to_have_text("LIVE")
    assert_not_reloaded(page)

    # a second release appears on the board by itself, builds, and goes live
    commit_page(repo, "hello from v2")
    second = start_release(page, url, name, "second from the browser")
    mark_page(page)
    expect(second).to_have_attribute("data-status", "installed", timeout=BUILD_TIMEOUT)
    assert_not_reloaded(page)
    second.locator("button[data-action=activate]").click()
    mark_page(page)
    expect(second).to_have_attribute("data-status", "used", timeout=SWITCH_TIMEOUT)
    expect(first).to_have_attribute("data-status", "old")
    expect(first.locator(".live-badge")).to_have_count(0)
    revert = second.locator("button[data-action=revert]")
    expect(revert).to_have_text(re.compile(r"Revert to 1\.00\.001\.\d+"))
    assert_not_reloaded(page)

    # CI releases a broken change through the API: the row appears on the open
    # board by itself, fails to build, says why, and offers a rebuild
    git(repo, "rm", "-q", "page.txt")
    git(repo, "commit", "-q", "-m", "remove the page")
    page.goto(url + "/?project=" + name)
    mark_page(page)
    rds_system.api.post("/projects/%s/releases" % name, {"comment": "third: the page is gone"})
    third = page.locator("tr.release-row", has_text="third: the page is gone")
    expect(third).to_have_count(1)
    expect(page.locator("tr.release-row").first).to_have_text(re.compile("third"))
    expect(page.locator("#release-count")).to_have_text("3 releases")
    expect(third).to_have_attribute("data-status", "failed", timeout=BUILD_TIMEOUT)
    expect(third.locator(".error-text")).to_contain_text(
        re.compile(r"build failed: .* … .*cannot stat .page\.txt.*No such file"))
    expect(third.locator("button[data-action=rebuild]")).to_be_visible()
    expect(third.locator("button[data-action=activate]")).to_have_count(0)
    assert_not_reloaded(page)

    page.screenshot(path=os.path.join(artifacts, "board.png"), animations="disabled")
    if os.environ.get("RDS_REFRESH_DOCS") == "1":  # `make docs-screenshot` only
        docs = os.path.join(os.path.dirname(artifacts), "docs")
        shutil.copyfile(os.path.join(artifacts, "board.png"), os.path.join(docs, "board.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=os.path.join(artifacts, "board-phone.png"), full_page=True,
                    animations="disabled")
    page.set_viewport_size({"width": 1440, "height": 1000})

    # revert: the first version is live again
    revert.click()
    expect(page.locator(".flash-success")).to_contain_text("Reverting %s to" % name)
    mark_page(page)
    expect(first).to_have_attribute("data-status", "used", timeout=SWITCH_TIMEOUT)
    expect(first.locator(".live-badge")).to_have_text("LIVE")
    expect(second).to_have_attribute("data-status", "old")
    assert_not_reloaded(page)
    for server in rds_system.app_servers:
        deploy = server.path("apps", name)
        with open(os.path.join(deploy, "current", "public", "index.html")) as handle:
            assert handle.read() == "hello from v1"

    # and the audit log tells the story
    page.goto(url + "/audit?project=" + name)
    expect(page.locator("#audit")).to_contain_text("Created project %s" % name)
    expect(page.locator("#audit")).to_contain_text("Started rollback of %s" % name)


def test_an_admin_creates_a_viewer_who_can_only_look(rds_system, page):
    url, name = rds_system.url, "viewer-%s" % uuid.uuid4().hex[:6]
    log_in(page, url)
    page.locator("nav").get_by_role("link", name="Users").click()
    form = page.locator("#new-user")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_label("Password").fill("viewer-password")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator(".flash-success")).to_have_text("Created user %s (viewer)." % name)
    expect(page.locator("#user-" + name)).to_contain_text(name)
    page.locator("#logout").click()

    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill("viewer-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who")).to_contain_text("%s viewer" % name)
    expect(page.locator("#board")).to_be_visible()
    expect(page.locator("#new-release")).to_have_count(0)
    expect(page.locator("button[data-action]")).to_have_count(0)
    expect(page.locator("nav").get_by_role("link", name="Users")).to_have_count(0)
    page.goto(url + "/admin/users")
    expect(page.locator("h2")).to_contain_text("403")
