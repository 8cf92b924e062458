"""Garbage collection end to end without the broker: real PostgreSQL, real sshd.

The pruner's scheduling runs against the database; the commands it queued in
the outbox are parsed and run by the gc agent's own job
(``rds_agent.removal``) against the sshd app servers; every event the job
publishes is applied by ingest in its own transaction, as the ingest service
would. Only RabbitMQ is left out (its part is covered by the interface tests).
"""
import uuid

import pytest
from sqlalchemy import select

from rds_agent.removal import run_inspection, run_removal
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings
from rds_contracts.registry import event_name, parse_command
from rds_control import projects, unit, users
from rds_control.ingest import apply_event
from rds_db.models import OutboxMessage
from rds_db.models.base import utcnow
from rds_db.session import transaction
from rds_settings.settings import load


class InProcessGc:
    """Runs queued gc commands with the agent's code; events go straight to ingest."""

    def __init__(self, session_factory, settings, task_files):
        self.session_factory = session_factory
        self.settings = settings
        self.task_files = task_files

    def publish(self, event):
        unit.run(self.session_factory, None, apply_event, event_name(event), event)

    def run(self, task_ids, now=None):
        """Run the commands of ``task_ids`` (taken from the outbox, as sent)."""
        with transaction(self.session_factory) as session:
            rows = session.scalars(select(OutboxMessage).where(
                OutboxMessage.sent_at.is_(None))).all()
            commands = [parse_command(r.command, r.body) for r in rows
                        if r.body.get("task_id") in set(task_ids)]
            for row in rows:
                if row.body.get("task_id") in set(task_ids):
                    row.sent_at = utcnow()
        assert len(commands) == len(task_ids)
        for command in commands:
            reporter = TaskReporter(self.publish, command.task_id, "host1/gc/1")
            if hasattr(command, "version"):
                run_removal(command, reporter, self.settings, self.task_files)
            else:
                run_inspection(command, reporter, self.settings, now=now)


@pytest.fixture
def gc_agent(session_factory, ssh_key, tmp_path):
    settings = AgentSettings.from_settings(load({"RDS_AGENT_WORK_DIR": str(tmp_path / "agent"),
                                                 "RDS_SSH_KEY_PATH": ssh_key}))
    return InProcessGc(session_factory, settings, TaskFiles(settings.run_dir))


@pytest.fixture
def admin(session_factory):
    with transaction(session_factory) as session:
        user = users.create_user(session, "gc-admin-%s" % uuid.uuid4().hex[:6], "admin")
        return user.id


@pytest.fixture
def deploy_path(app_servers):
    path = "apps/gc-%s" % uuid.uuid4().hex[:12]
    yield path
    for server in app_servers:
        server.reset_home(path)


@pytest.fixture
def make_project(session_factory, app_servers, deploy_path, admin):
    def make(keep_releases=5, servers=None, **extra):
        from rds_db.models import User

        data = {"name": "gc-%s" % uuid.uuid4().hex[:10], "repository": "/srv/git/app.git",
                "deploy_path": deploy_path, "keep_releases": keep_releases,
                "servers": servers or [{"host": "127.0.0.1", "port": s.port, "user": s.user}
                                       for s in app_servers],
                "scripts": {"build": "true", **extra.pop("scripts", {})}}
        with transaction(session_factory) as session:
            project = projects.create_project(session, data, session.get(User, admin))
            return project.id, project.name
    return make
