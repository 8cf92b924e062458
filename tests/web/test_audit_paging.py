"""The audit log page at scale: keyset cursors, a capped count, a bounded action list."""
import re

from rds_control import audit, projects
from rds_db.models import AuditEntry
from tests.web.web_support import in_tx, statements_run, unique


def seed_entries(session_factory, project_name, count, action="seed.done", actor="system"):
    """Insert ``count`` audit entries of a project directly; returns their ids, oldest first."""
    def seed(session):
        project = projects.get_project(session, project_name)
        entries = [AuditEntry(action=action, actor=actor, project_id=project.id,
                              message="%s entry %d" % (project_name, n), details={})
                   for n in range(count)]
        session.add_all(entries)
        session.flush()
        return [entry.id for entry in entries]
    return in_tx(session_factory, seed)


def messages(page, project):
    return re.findall(r"%s entry (\d+)" % re.escape(project), page)


def links(page):
    return {rel: href.replace("&amp;", "&") for href, rel in
            re.findall(r'<a href="([^"]+)" rel="(prev|next)">', page)}


def walk(client, url, rel):
    """Follow ``rel`` links from ``url``; the pages' entry numbers, in order."""
    pages = []
    while url:
        page = client.get(url).get_data(as_text=True)
        pages.append(page)
        url = links(page).get(rel)
    return pages


def test_paging_with_the_cursor_shows_every_entry_once_newest_first(as_viewer, make_project,
                                                                    session_factory):
    project = make_project()
    seed_entries(session_factory, project, 2 * audit.PAGE_SIZE + 7)
    pages = walk(as_viewer, "/audit?project=%s&q=entry" % project, "next")
    assert len(pages) == 3
    seen = [int(n) for page in pages for n in messages(page, project)]
    assert seen == list(range(2 * audit.PAGE_SIZE + 6, -1, -1))
    assert "before=" in links(pages[0])["next"] and "project=%s" % project in links(
        pages[0])["next"]
    assert "prev" not in links(pages[0]) and "next" not in links(pages[-1])
    # and back up from the last page with the after= cursor, to the first again
    back = walk(as_viewer, links(pages[-1])["prev"], "prev")
    assert [int(n) for page in reversed(back) for n in messages(page, project)] \
        == seen[:2 * audit.PAGE_SIZE]
    assert "after=" in links(pages[-1])["prev"]


def test_filters_hold_across_pages(as_viewer, make_project, session_factory):
    project = make_project()
    seed_entries(session_factory, project, audit.PAGE_SIZE + 3, action="seed.kept",
                 actor="keeper")
    seed_entries(session_factory, project, 30, action="seed.other", actor="other")
    pages = walk(as_viewer, "/audit?project=%s&action=seed.kept&actor=keep" % project, "next")
    assert len(pages) == 2
    assert all("<code>seed.other</code>" not in page and "<code>seed.kept</code>" in page
               for page in pages)
    seen = [int(n) for page in pages for n in messages(page, project)]
    assert seen == list(range(audit.PAGE_SIZE + 2, -1, -1))
    assert "%d entries" % (audit.PAGE_SIZE + 3) in pages[1]
    family = walk(as_viewer, "/audit?project=%s&action=seed" % project, "next")
    assert sum(len(messages(page, project)) for page in family) == audit.PAGE_SIZE + 33


def test_the_count_stops_at_the_cap(as_viewer, make_project, session_factory, monkeypatch):
    project = make_project()
    seed_entries(session_factory, project, 12)
    monkeypatch.setattr(audit, "COUNT_CAP", 10)
    page = as_viewer.get("/audit?project=%s&q=entry" % project).get_data(as_text=True)
    assert 'data-capped="true"' in page and "10+ entries" in page
    monkeypatch.setattr(audit, "COUNT_CAP", 10000)
    page = as_viewer.get("/audit?project=%s&q=entry" % project).get_data(as_text=True)
    assert "data-capped" not in page and "12 entries" in page


def test_a_bad_cursor_is_refused(as_viewer):
    for query in ("before=abc", "after=-3", "before=1e9", "before=%s" % ("9" * 30),
                  "before=5&after=3"):
        assert as_viewer.get("/audit?" + query).status_code == 400, query
    refused = as_viewer.get("/audit?before=abc").get_data(as_text=True)
    assert "before= must be an audit entry id" in refused
    assert as_viewer.get("/audit?before=").status_code == 200


def test_a_cursor_past_the_end_is_an_empty_page(as_viewer, make_project, session_factory):
    project = make_project()
    first = seed_entries(session_factory, project, 3)[0]
    page = as_viewer.get("/audit?project=%s&q=entry&before=%d" % (project, first)).get_data(
        as_text=True)
    assert "Nothing matches." in page and "3 entries" in page
    assert messages(page, project) == []


def test_the_action_list_has_every_action_and_family(as_viewer, make_project,
                                                     session_factory):
    project = make_project()
    name = unique("zz")
    seed_entries(session_factory, project, 2, action="%s.one" % name)
    seed_entries(session_factory, project, 2, action="%s.two" % name)
    page = as_viewer.get("/audit").get_data(as_text=True)
    for action in (name, name + ".one", name + ".two"):
        assert '<option value="%s"' % action in page
    assert page.count('<option value="%s.one"' % name) == 1


def test_an_audit_page_is_read_in_a_fixed_number_of_queries(app, as_viewer, make_project,
                                                           session_factory):
    def statements_for(url):
        with statements_run(app) as statements:
            assert as_viewer.get(url).status_code == 200
        return statements

    small, full = make_project(), make_project()
    seed_entries(session_factory, small, 3)
    ids = seed_entries(session_factory, full, 3 * audit.PAGE_SIZE)
    few = statements_for("/audit?project=%s" % small)
    many = statements_for("/audit?project=%s" % full)
    deep = statements_for("/audit?project=%s&before=%d" % (full, ids[2 * audit.PAGE_SIZE]))
    newer = statements_for("/audit?project=%s&after=%d" % (full, ids[audit.PAGE_SIZE]))
    assert len(few) == len(many) == len(deep) == len(newer), "\n".join(deep)
    assert len(many) <= 20, "\n".join(many)
    assert not any("OFFSET" in statement.upper() for statement in many + deep)
    assert not any(re.search(r"SELECT DISTINCT", statement, re.I) for statement in many)
