"""The pages work under the Content-Security-Policy: no violation in the browser's
console, and what used to be inline handlers (the board's filters) still works."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_release_board import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.ui]


def test_pages_raise_no_csp_violation_and_filters_apply_on_change(rds_system, page):
    problems = []
    page.on("console", lambda message: problems.append(message.text)
            if "Content Security Policy" in message.text
            or (message.type == "error" and "Failed to load resource" not in message.text)
            else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: problems.append("%d %s" % (response.status,
                                                                     response.url))
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    log_in(page, rds_system.url)
    for path in ("/", "/projects", "/agents", "/audit", "/admin/users"):
        page.goto(rds_system.url + path)
        expect(page.locator("main")).to_be_visible()
    page.goto(rds_system.url + "/")
    page.locator("form.filters select[name=status]").select_option("failed")
    expect(page).to_have_url(re.compile(r"[?&]status=failed"))
    assert problems == []
