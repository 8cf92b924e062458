"""Notifications: queued with the change that causes them, delivered by the pruner's
code to a real SMTP server (aiosmtpd) and a real local HTTP receiver (HMAC checked),
retried with backoff (injected clock), exactly one delivery after a failure."""
import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from rds_contracts import activator, agents, builder
from rds_control import channels, controls, delivery, projects, releases, users
from rds_control.errors import InvalidInput
from rds_control.ingest import apply_event
from rds_control.unit import run
from rds_db.models import NotificationChannel, NotificationMessage
from rds_testing.plugin import free_port
from tests.control.test_activate_release import go_live

SECRET = "s3cret-signing-key-0123"
T0 = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


# -- real receivers ------------------------------------------------------------

class Mailbox:
    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


class Receiver:
    """A local HTTP endpoint: records every POST; answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"receiver says %d" % status)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook?token=abc" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.thread.join()

    @property
    def accepted(self):
        return [(headers, body) for headers, body, status in self.requests if status == 200]


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]
    yield make
    for one in made:
        one.close()


# -- committed fixtures (delivery runs in its own transactions) ------------------

def tx(session_factory, fn, *args):
    return run(session_factory, None, fn, *args)


@pytest.fixture
def team(session_factory):
    """A committed deployer and project; ``team.channel(...)`` subscribes a channel."""
    class Team:
        user = "dep-%s" % uuid.uuid4().hex[:6]
        project = "notify-%s" % uuid.uuid4().hex[:6]

        def channel(self, **data):
            return tx(session_factory, lambda s: channels.add_channel(
                s, self.project, data, users.get_user(s, self.user)).id)

        def install_release(self):
            def create(s):
                release = releases.create_release(s, self.project, {"comment": "new checkout"},
                                                  users.get_user(s, self.user))
                return release.id, release.tasks[-1].id, [x.id for x in release.project.servers]
            release_id, task_id, servers = tx(session_factory, create)
            run_id, seq = uuid.uuid4().hex, iter(range(1, 100))

            def send(name, schema, **fields):
                event = schema(task_id=task_id, run_id=run_id, seq=next(seq), **fields)
                tx(session_factory, apply_event, name, event)
            send(agents.TASK_STARTED, agents.TaskStarted, agent="h/builder/1")
            send(builder.BUILD_BUILT, builder.BuildBuilt, commit="a" * 40, files=1, bytes=1)
            send(builder.BUILD_INSTALLING, builder.BuildInstalling, servers=len(servers))
            for server in servers:
                send(builder.SERVER_READY, builder.ServerReady, server_id=server,
                     manifest_sha256="b" * 64, files_sent=1, bytes_sent=1)
            send(builder.BUILD_FINISHED, builder.BuildFinished,
                 servers=[{"server_id": i, "ok": True} for i in servers])
            return release_id

    team = Team()
    tx(session_factory, lambda s: users.create_user(s, team.user, "deployer").id)
    tx(session_factory, lambda s: projects.create_project(s, {
        "name": team.project, "repository": "/srv/git/a.git", "deploy_path": "apps/a",
        "servers": [{"host": "10.0.0.1", "user": "deploy"}], "scripts": {"build": "make"}},
        users.get_user(s, team.user)).id)
    return team


def settings(smtp_port=None):
    return delivery.DeliverySettings(
        public_url="https://rds.example.test",
        smtp=delivery.SmtpSettings(host="127.0.0.1" if smtp_port else None,
                                   port=smtp_port or 25, sender="rds@example.test"),
        timeout=5)


def channel_row(session_factory, channel_id):
    with session_factory() as session:
        row = session.get(NotificationChannel, channel_id)
        return {"failing": row.failing, "last_error": row.last_error,
                "last_sent_at": row.last_sent_at}


# -- tests ---------------------------------------------------------------------------

def test_an_installed_release_is_mailed_over_smtp_with_a_link(session_factory, team,
                                                              smtp_server):
    port, mailbox = smtp_server
    mail = team.channel(kind="email", target="ops@example.com", events=["installed"])
    release_id = team.install_release()
    assert delivery.deliver_due(session_factory, settings(port), channels=[mail]) == (1, 0)
    assert mailbox.arrived.wait(5)
    [(recipients, message)] = mailbox.messages
    assert recipients == ["ops@example.com"]
    assert message["Subject"] == "[rds] %s 1.00.001.1: installed" % team.project
    assert message["From"] == "rds@example.test"
    assert "https://rds.example.test/releases/%d" % release_id in message.get_payload()
    assert delivery.deliver_due(session_factory, settings(port), channels=[mail]) == (0, 0)
    assert channel_row(session_factory, mail)["failing"] is False


def test_a_generic_webhook_is_signed_and_a_slack_one_carries_text(session_factory, team,
                                                                  receiver):
    generic, slack = receiver(), receiver()
    hook = team.channel(kind="webhook", target=generic.url, secret=SECRET,
                        events=["installed"])
    chat = team.channel(kind="slack", target=slack.url, events=["installed", "build_failed"])
    release_id = team.install_release()
    assert delivery.deliver_due(session_factory, settings(), channels=[hook, chat]) == (2, 0)

    [(headers, body)] = generic.accepted
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Rds-Signature"], expected)
    assert headers["X-Rds-Signature"] != "sha256=" + hmac.new(
        b"another key", body, hashlib.sha256).hexdigest()
    data = json.loads(body)
    assert (data["event"], data["project"], data["version"], data["release_id"]) == (
        "installed", team.project, "1.00.001.1", release_id)
    assert data["url"] == "https://rds.example.test/releases/%d" % release_id
    assert headers["X-Rds-Event"] == "installed"

    [(headers, body)] = slack.accepted
    text = json.loads(body)["text"]
    assert "%s 1.00.001.1: installed" % team.project in text
    assert "<https://rds.example.test/releases/%d|open in rds>" % release_id in text


def test_a_failing_receiver_is_retried_with_backoff_and_gets_exactly_one_delivery(
        session_factory, team, receiver):
    flaky = receiver(statuses=[503])
    hook = team.channel(kind="webhook", target=flaky.url, secret=SECRET, events=["installed"])
    team.install_release()

    assert delivery.deliver_due(session_factory, settings(), now=T0, channels=[hook]) == (0, 1)
    state = channel_row(session_factory, hook)
    assert state["failing"] and "HTTP 503 receiver says 503" in state["last_error"]
    assert delivery.deliver_due(session_factory, settings(), now=T0 + timedelta(seconds=29),
                                channels=[hook]) == (0, 0)  # backing off
    assert delivery.deliver_due(session_factory, settings(), now=T0 + timedelta(seconds=30),
                                channels=[hook]) == (1, 0)
    assert delivery.deliver_due(session_factory, settings(), now=T0 + timedelta(days=1),
                                channels=[hook]) == (0, 0)
    assert [status for _, _, status in flaky.requests] == [503, 200]
    assert len({headers["X-Rds-Delivery"] for headers, _, _ in flaky.requests}) == 1
    assert len(flaky.accepted) == 1
    assert channel_row(session_factory, hook)["failing"] is False


def test_email_without_smtp_settings_fails_visibly_and_is_given_up_eventually(
        session_factory, team):
    mail = team.channel(kind="email", target="ops@example.com", events=["installed"])
    team.install_release()
    moment = T0
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        assert delivery.deliver_due(session_factory, settings(), now=moment,
                                    channels=[mail]) == (0, 1)
        moment += delivery.backoff(attempt)
    assert delivery.deliver_due(session_factory, settings(), now=moment + timedelta(days=9),
                                channels=[mail]) == (0, 0)
    assert "RDS_SMTP_HOST" in channel_row(session_factory, mail)["last_error"]
    with session_factory() as session:
        message = session.scalars(select(NotificationMessage).where(
            NotificationMessage.channel_id == mail)).one()
        assert message.given_up_at is not None and message.sent_at is None


def queued(db_session, channel):
    db_session.flush()
    return [(m.event, m.body.get("version")) for m in db_session.scalars(
        select(NotificationMessage).where(NotificationMessage.channel_id == channel.id)
        .order_by(NotificationMessage.id))]


def test_each_event_is_queued_for_the_channels_that_subscribed_to_it(
        db_session, make_project, installed_release, alice, agent_for, make_user):
    project, other = make_project(), make_project()
    everything = channels.add_channel(db_session, project.name,
                                      {"kind": "email", "target": "all@example.com"}, alice)
    only_bans = channels.add_channel(db_session, project.name, {
        "kind": "email", "target": "bans@example.com", "events": ["ban_set"]}, alice)
    switch_elsewhere = channels.add_channel(db_session, other.name, {
        "kind": "email", "target": "switch@example.com", "events": ["deployment_switch"]},
        alice)
    v1, v2 = installed_release(project), installed_release(project)
    go_live(db_session, v1, alice, agent_for)
    go_live(db_session, v2, alice, agent_for)
    releases.revert_project(db_session, project.name, alice)
    agent = agent_for(v1.tasks[-1], name="a/activator/2")
    agent.start()
    agent.send(activator.ACTIVATION_FAILED, activator.ActivationFailed, reason="disk full",
               rolled_back=True,
               servers=[])
    ban = controls.set_ban(db_session, project.name, {"comment": "freeze"}, alice)
    controls.lift_ban(db_session, ban.id, alice)
    admin = make_user("admin")
    controls.set_switch(db_session, {"enabled": False, "reason": "incident"}, admin)
    controls.set_switch(db_session, {"enabled": True}, admin)

    assert queued(db_session, everything) == [
        ("installed", "1.00.001.1"), ("installed", "1.00.002.2"),
        ("activated", "1.00.001.1"), ("activated", "1.00.002.2"),
        ("activation_failed", "1.00.001.1"), ("ban_set", None), ("ban_lifted", None),
        ("deployment_switch", None), ("deployment_switch", None)]
    assert queued(db_session, only_bans) == [("ban_set", None)]
    assert queued(db_session, switch_elsewhere) == [("deployment_switch", None)] * 2


def test_a_rollback_is_its_own_event(db_session, make_project, installed_release, alice,
                                     agent_for):
    project = make_project()
    chat = channels.add_channel(db_session, project.name, {
        "kind": "slack", "target": "https://chat.example.com/hook",
        "events": ["rolled_back", "activated"]}, alice)
    v1, v2 = installed_release(project), installed_release(project)
    go_live(db_session, v1, alice, agent_for)
    go_live(db_session, v2, alice, agent_for)
    go_live(db_session, v1, alice, agent_for)
    assert queued(db_session, chat) == [("activated", "1.00.001.1"),
                                        ("activated", "1.00.002.2"),
                                        ("rolled_back", "1.00.001.1")]


def test_a_failed_build_notifies(db_session, make_project, alice, agent_for):
    project = make_project()
    mail = channels.add_channel(db_session, project.name, {
        "kind": "email", "target": "ops@example.com", "events": ["build_failed"]}, alice)
    release = releases.create_release(db_session, project.name, {}, alice)
    agent = agent_for(release.tasks[-1])
    agent.start()
    agent.send(builder.BUILD_FAILED, builder.BuildFailed, phase="build", reason="exit 2")
    assert queued(db_session, mail) == [("build_failed", "1.00.001.1")]


@pytest.mark.parametrize("data, field", [
    ({"kind": "slack", "target": "ftp://chat.example.com/x"}, "target"),
    ({"kind": "webhook", "target": "javascript:alert(1)", "secret": SECRET}, "target"),
    ({"kind": "slack", "target": "https://exa mple.com/"}, "target"),
    ({"kind": "email", "target": "not-an-address"}, "target"),
    ({"kind": "email", "target": "a@b@example.com"}, "target"),
    ({"kind": "email", "target": "ops@example.com\nBcc: x@evil.test"}, "target"),
    ({"kind": "webhook", "target": "https://example.com/hook"}, "secret"),
    ({"kind": "webhook", "target": "https://example.com/hook", "secret": "short"}, "secret"),
    ({"kind": "email", "target": "ops@example.com", "events": ["deployed"]}, "events.0"),
    ({"kind": "email", "target": "ops@example.com", "events": []}, "events"),
    ({"kind": "pager", "target": "ops@example.com"}, "kind"),
])
def test_a_bad_channel_is_refused_with_the_field_and_nothing_is_saved(
        db_session, make_project, alice, data, field):
    project = make_project()
    with pytest.raises(InvalidInput) as refused:
        channels.add_channel(db_session, project.name, data, alice)
    assert refused.value.field == field, refused.value.message
    assert channels.list_channels(db_session, project.id) == []


def test_removing_a_channel_drops_what_it_had_not_sent(db_session, make_project, alice):
    project = make_project()
    mail = channels.add_channel(db_session, project.name,
                                {"kind": "email", "target": "ops@example.com"}, alice)
    controls.set_ban(db_session, project.name, {"comment": "freeze"}, alice)
    assert queued(db_session, mail) == [("ban_set", None)]
    channel_id = mail.id
    assert channels.remove_channel(db_session, channel_id, alice) == "email ops@example.com"
    db_session.expire_all()
    assert db_session.scalars(select(NotificationMessage).where(
        NotificationMessage.channel_id == channel_id)).all() == []
