"""The migrations page, the board row's "Run pre migrations", the release page's
floor and an admin's activation below it."""
import re

from sqlalchemy import select

from rds_contracts.migrator import MigrationListing
from rds_control import migrations, releases
from rds_db.models import Migration, Project
from tests.web.web_support import in_tx, statements_run

SCRIPTS = {"build": "make", "migrations": "ls migrations/$type",
           "migration": "psql -f migrations/$type/$migrationName.$command.sql"}


def listed(session_factory, release_id, pre=(), post=()):
    in_tx(session_factory, lambda s: migrations.record_listing(
        s, releases.get_release(s, release_id), MigrationListing(pre=list(pre), post=list(post))))


def migration_id(session_factory, project, name):
    return in_tx(session_factory, lambda s: s.scalar(
        select(Migration.id).join(Project, Project.id == Migration.project_id)
        .where(Migration.name == name, Project.name == project)))


def test_the_board_row_offers_run_pre_migrations_instead_of_activate(
        as_deployer, make_project, make_release, session_factory):
    project = make_project(scripts=SCRIPTS)
    release_id = make_release.installed(project)
    listed(session_factory, release_id, pre=["0001_add_email"])
    page = as_deployer.get("/?project=%s" % project).get_data(as_text=True)
    row = re.search(r'<tr id="release-%d".*?</tr>' % release_id, page, re.S).group(0)
    assert "pending pre migrations</a>: 0001_add_email" in row
    assert 'action="/releases/%d/pre-migrations"' % release_id in row
    assert re.search(r'title="release [^"]* has pending pre migrations: 0001_add_email',
                     row)  # Activate shown disabled, with the reason
    response = as_deployer.post("/releases/%d/pre-migrations" % release_id,
                                data={"next": "/"}, follow_redirects=True)
    assert "Running the pre migrations of %s" % project in response.get_data(as_text=True)
    assert make_release.task_of(release_id, "migrate")


def test_the_migrations_page_filters_and_says_how_many_days_are_left(
        as_viewer, as_deployer, make_project, make_release, session_factory):
    project = make_project(scripts=SCRIPTS)
    release_id = make_release.live(project)
    listed(session_factory, release_id, pre=["0001_pre"], post=["0002_drop_legacy"])
    page = as_viewer.get("/migrations?project=%s&type=post" % project).get_data(as_text=True)
    assert "0002_drop_legacy" in page and "0001_pre" not in page
    assert re.search(r"[67]\.\d day\(s\) left", page)
    assert 'data-action="apply"' not in page  # a viewer gets no buttons
    page = as_deployer.get("/migrations?project=%s&type=post" % project).get_data(as_text=True)
    assert re.search(r'title="post migration 0002_drop_legacy may run [67]\.\d day', page)
    response = as_deployer.post("/migrations/%d/apply" % migration_id(
        session_factory, project, "0002_drop_legacy"), data={"next": "/migrations"},
        follow_redirects=True)
    assert "day(s) from now" in response.get_data(as_text=True)
    board = as_viewer.get("/?project=%s" % project).get_data(as_text=True)
    assert re.search(r"post migrations</a>: 0002_drop_legacy\s*\(may run from <time", board)
    page = as_viewer.get("/migrations?state=sideways").get_data(as_text=True)
    assert "state must be one of" in page


def test_only_an_admin_sees_the_override_of_the_rollback_floor(
        as_admin, as_deployer, make_project, make_release, session_factory):
    project = make_project(scripts=SCRIPTS)
    v1 = make_release.live(project)
    v2 = make_release.live(project)
    listed(session_factory, v2, post=["0002_drop_legacy"])
    in_tx(session_factory, lambda s: s.get(
        Migration, migration_id(session_factory, project, "0002_drop_legacy")).__setattr__(
        "state", "applied"))
    deployer_page = as_deployer.get("/releases/%d" % v1).get_data(as_text=True)
    assert "Rollback floor of %s" % project in deployer_page
    assert "below floor" in deployer_page and 'id="override-floor"' not in deployer_page
    admin_page = as_admin.get("/releases/%d" % v1).get_data(as_text=True)
    assert 'id="override-floor"' in admin_page
    response = as_admin.post("/releases/%d/activate-below-floor" % v1,
                             data={"reason": ""}, follow_redirects=True)
    assert "needs a written reason" in response.get_data(as_text=True)
    response = as_admin.post("/releases/%d/activate-below-floor" % v1,
                             data={"reason": "restored by hand"}, follow_redirects=True)
    assert "below the rollback floor" in response.get_data(as_text=True)
    assert make_release.status(v1) == "using"


def test_the_migrations_page_reloads_live_when_a_migration_of_its_project_changes(
        as_viewer, make_project, make_release, session_factory):
    from rds_control.changes import last_change_id
    from tests.web.test_events import stream

    project, other = make_project(scripts=SCRIPTS), make_project(scripts=SCRIPTS)
    release_id = make_release.installed(project)
    page = as_viewer.get("/migrations?project=%s" % project).get_data(as_text=True)
    assert 'data-stream="/events?view=migrations' in page
    after = in_tx(session_factory, last_change_id)
    listed(session_factory, release_id, pre=["0001_live"])
    found, _ = stream(as_viewer, "/events?view=migrations&after=%d&project=%s"
                      % (after, project))
    assert [name for _, name, _ in found] == ["reload"]
    found, _ = stream(as_viewer, "/events?view=migrations&after=%d&project=%s"
                      % (after, other))
    assert found == []


def test_the_migrations_page_is_read_in_a_fixed_number_of_queries(
        app, as_viewer, make_project, make_release, session_factory):
    def queries_for(projects):
        with statements_run(app) as statements:
            page = as_viewer.get("/migrations?type=post&state=pending").get_data(as_text=True)
        assert all(p in page for p in projects)
        return len(statements)

    made = []
    for count in (1, 4):
        while len(made) < count:
            project = make_project(scripts=SCRIPTS)
            listed(session_factory, make_release.live(project),
                   post=["0009_drop_%d" % n for n in range(5)])
            made.append(project)
        if count == 1:
            few = queries_for(made)
    assert queries_for(made) == few
