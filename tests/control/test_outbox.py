"""Commands leave through the outbox: sent once after commit, kept when the broker is away."""
from sqlalchemy import select

from rds_control import outbox, releases, unit
from rds_db.models import OutboxMessage
from rds_db.session import transaction


class Recording:
    def __init__(self, fail=False):
        self.fail, self.sent = fail, []

    def send_command(self, command, pool):
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append((command, pool))

    broadcast_command = send_command


def create(session_factory, name):
    from rds_control import projects, users

    def make(session):
        user = users.create_user(session, "ob-" + name, "deployer")
        projects.create_project(session, {"name": name, "repository": "/r", "deploy_path": "a",
                                          "servers": [{"host": "h", "user": "u"}],
                                          "scripts": {"build": "make"}}, user)
        return user
    return unit.run(session_factory, None, make)


def test_a_command_is_published_after_commit_and_only_once(session_factory):
    user = create(session_factory, "outbox-once")
    publisher = Recording()
    release = unit.run(session_factory, publisher, releases.create_release, "outbox-once", {},
                       user)
    assert [c.version for c, _ in publisher.sent] == [release.version]
    with transaction(session_factory) as session:
        rows = [m for m in session.scalars(select(OutboxMessage))
                if m.body.get("project") == "outbox-once"]
    assert len(rows) == 1 and rows[0].sent_at is not None
    assert outbox.publish_pending(session_factory, publisher, ids=[rows[0].id]) == 0
    assert len(publisher.sent) == 1


def test_an_unsent_command_waits_for_the_relay(session_factory):
    user = create(session_factory, "outbox-later")
    unit.run(session_factory, Recording(fail=True), releases.create_release, "outbox-later", {},
             user)
    later = Recording()
    assert outbox.publish_pending(session_factory, later, older_than=0) >= 1
    assert "outbox-later" in [c.project for c, _ in later.sent]
