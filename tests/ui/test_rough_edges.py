"""Layout details a new user noticed: nothing overflows a phone, the header fits,
headings do not collide, no request 404s (favicon), the audit filter fits its
placeholders, and agents that went away idle are collapsed until asked for."""
import os
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from rds_contracts import agents
from rds_control.ingest import apply_event
from rds_db.models.base import utcnow
from rds_db.session import transaction
from tests.ui.test_release_board import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.ui]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def logged_in(page, rds_system):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    log_in(page, rds_system.url)
    yield page
    assert missing == [], "requests answered 404: %s" % missing


@pytest.fixture
def long_project(rds_system):
    name = "edge-%s" % uuid.uuid4().hex[:8]
    rds_system.api.post("/projects", {
        "name": name, "repository": "/srv/git/a-rather-long-repository-name/%s.git" % name,
        "deploy_path": "apps/%s/with/a/deep/deploy/path" % name,
        "servers": rds_system.server_specs(), "scripts": {"build": "true"}})
    return name


def overflow(page):
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def box(page, selector):
    return page.locator(selector).first.bounding_box()


def test_the_project_page_fits_a_phone_and_its_headings_do_not_collide(
        logged_in, rds_system, long_project, artifacts):
    page = logged_in
    for viewport in (PHONE, {"width": 1440, "height": 1000}):
        page.set_viewport_size(viewport)
        page.goto("%s/projects/%s" % (rds_system.url, long_project))
        page.screenshot(path=os.path.join(artifacts, "project-%d.png" % viewport["width"]),
                        full_page=True, animations="disabled")
        assert overflow(page) <= 0, viewport
        title, settings = box(page, ".board-head h2"), box(page, "section h3")
        assert title["y"] + title["height"] <= settings["y"], (viewport, title, settings)


def test_the_phone_header_takes_at_most_two_lines(logged_in, rds_system):
    page = logged_in
    page.set_viewport_size(PHONE)
    for path in ("/", "/agents", "/audit"):
        page.goto(rds_system.url + path)
        rows = page.evaluate("""() => new Set([...document.querySelectorAll('.topbar nav li')]
            .map(li => Math.round(li.getBoundingClientRect().top / 8))).size""")
        assert rows <= 2, path
        assert overflow(page) <= 0, path


def test_pages_have_a_favicon(logged_in, rds_system):
    page = logged_in
    page.goto(rds_system.url + "/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(rds_system.url + href).ok
    assert page.request.get(rds_system.url + "/favicon.ico").ok


def test_the_audit_filter_shows_its_placeholders_and_aligns_its_button(logged_in, rds_system):
    page = logged_in
    page.goto(rds_system.url + "/audit")
    for field in page.locator("#audit-filters input").all():
        needed = field.evaluate("""el => {
            const c = document.createElement('canvas').getContext('2d');
            const s = getComputedStyle(el);
            c.font = s.fontSize + ' ' + s.fontFamily;
            const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
            return c.measureText(el.placeholder).width + pad - el.clientWidth; }""")
        assert needed <= 0, field.get_attribute("name")
    button = box(page, "#audit-filters button")
    field = box(page, "#audit-filters input")
    assert abs(button["y"] - field["y"]) <= 2 and abs(button["height"] - field["height"]) <= 2


def test_agents_that_went_away_idle_are_collapsed_until_asked_for(logged_in, rds_system,
                                                                  artifacts):
    page = logged_in
    name = "gone-%s/builder/1" % uuid.uuid4().hex[:6]
    with transaction(rds_system.session_factory) as session:
        apply_event(session, agents.AGENT_HEARTBEAT, agents.AgentHeartbeat(
            agent=name, service="builder", pool="default", host="gone", pid=1,
            version="t", interval=1, at=utcnow() - timedelta(minutes=10)))
    page.goto(rds_system.url + "/agents")
    gone = page.locator("#agents-table tr", has_text=name)
    expect(page.locator("#agents-table tr.online").first).to_be_visible()
    expect(gone).to_be_hidden()
    page.locator("#show-gone").click()
    expect(gone).to_be_visible()
    page.set_viewport_size(PHONE)
    page.screenshot(path=os.path.join(artifacts, "agents-390.png"), animations="disabled")
    page.locator("#show-gone").click()
    expect(gone).to_be_hidden()
