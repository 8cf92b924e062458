"""The agents page, the audit log, the build page, error pages and phone-width markup."""
import re
from datetime import UTC, datetime, timedelta

from tests.web.web_support import heartbeat, unique


def test_agents_page(as_viewer, session_factory):
    online, offline = unique("host9/builder"), unique("host9/builder")
    now = datetime.now(UTC)
    task = "ab" * 16
    heartbeat(session_factory, online, now, [task])
    heartbeat(session_factory, offline, now - timedelta(minutes=10))
    page = as_viewer.get("/agents").get_data(as_text=True)
    row = re.search(r'<tr class="online">\s*<td data-label="Agent"><code>%s</code>.*?</tr>'
                    % re.escape(online), page, re.S).group(0)
    assert "0.1.0" in row and "default" in row and "/builds/%s" % task in row
    assert re.search(r'<tr class="offline gone">\s*<td data-label="Agent"><code>%s</code>'
                     % re.escape(offline), page)
    assert 'data-stream="/events?view=agents' in page


def test_audit_log_lists_and_filters(as_viewer, make_project, make_release):
    project = make_project()
    make_release.live(project)
    page = as_viewer.get("/audit?project=%s" % project).get_data(as_text=True)
    assert "Created project %s" % project in page
    assert "Created %s 1.00.001.1" % project in page
    assert "agent:host1/activator/1" in page
    page = as_viewer.get("/audit?project=%s&action=release.activated" % project).get_data(
        as_text=True)
    assert "1 entry" in page and "is live on 2 server(s)" in page
    page = as_viewer.get("/audit?project=%s&action=release" % project).get_data(as_text=True)
    assert "Created project" not in page and "release.created" in page
    page = as_viewer.get("/audit?q=%s&actor=agent:" % project).get_data(as_text=True)
    assert "Created project" not in page and "is installed on 2 server(s)" in page
    page = as_viewer.get("/audit?q=100%25_sure").get_data(as_text=True)
    assert "0 entries" in page


def test_build_page_shows_phases_log_and_error(as_viewer, make_project, make_release):
    project = make_project()
    release, agent, _ = make_release.building(project)
    agent.step("checkout", "started")
    agent.log("Cloning...\n\x1b[32mok\x1b[0m <done>\n")
    agent.step("checkout", "finished")
    agent.step("build", "started")
    agent.log("\x1b[1;31merror:\x1b[0m missing file\n")
    agent.fail(reason="build script exited with 2")
    page = as_viewer.get("/builds/%s" % agent.task_id).get_data(as_text=True)
    assert '<div class="build-error" role="alert">' in page
    assert "build failed: build script exited with 2" in page
    assert '<span class="ansi-fg-2">ok</span> &lt;done&gt;' in page
    assert '<span class="ansi-fg-1 ansi-bold">error:</span>' in page
    phases = re.findall(r"<tr class=\"[^\"]*\"><td>(\w+)</td>", page)
    assert phases == ["queued", "checkout", "build"]
    raw = as_viewer.get("/builds/%s/log.txt" % agent.task_id)
    assert raw.mimetype == "text/plain" and "\x1b[32mok" in raw.get_data(as_text=True)
    assert as_viewer.get("/builds/%s" % ("0" * 32)).status_code == 404


def test_pages_work_at_phone_width(as_viewer):
    page = as_viewer.get("/").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    css = as_viewer.get("/static/rds.css").get_data(as_text=True)
    assert "@media (max-width: 820px)" in css


def test_unknown_page(as_viewer):
    response = as_viewer.get("/no/such/page")
    assert response.status_code == 404 and "There is no such page" in response.get_data(
        as_text=True)


def test_error_summary_keeps_the_first_and_the_last_line():
    from rds_web.ui.common import error_summary
    text = ("build failed: build script exited with status 1\n--- last output ---\n"
            "Cloning...\ncp: cannot stat 'page.txt': No such file or directory\n")
    assert error_summary(text) == ("build failed: build script exited with status 1 … "
                                   "cp: cannot stat 'page.txt': No such file or directory")
    assert error_summary("x" * 500).endswith("…") and len(error_summary("x" * 500)) == 200
    assert error_summary(None) == ""
    split = ("build failed: exit 1\n--- last output ---\nbuilding\ncp: \n"
             "cannot stat 'page.txt'\n: No such file or directory\n")
    assert error_summary(split) == ("build failed: exit 1 … cannot stat 'page.txt' "
                                    ": No such file or directory")
