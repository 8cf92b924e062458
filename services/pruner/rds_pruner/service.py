"""The pruner service: periodic safety nets and operator RPCs.

* every 2 s, publish outbox commands still unsent after ``OUTBOX_GRACE``
  seconds (the web or ingest died between commit and publish, or the broker
  was away);
* every 5 s, end tasks that can no longer finish (``rds_control.reaper``);
* every hour, trim sent commands, old change-feed rows and long-gone agents
  (``rds_control.housekeeping``);
* every 2 s, deliver due notifications (``rds_control.delivery``; settings
  ``SMTP_*``, ``PUBLIC_URL``, ``NOTIFY_TIMEOUT``).

Config keys: ``AGENT_TIMEOUT`` (seconds without heartbeat before a task of
that agent fails, default 30), ``QUEUE_TIMEOUT`` (default 3600),
``CANCEL_TIMEOUT`` (default 60), ``OUTBOX_GRACE`` (default 5).
"""
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import select

from rds_bus.providers import Bus
from rds_bus.runtime import AgentRuntime
from rds_contracts import pruner
from rds_contracts.registry import parse_command
from rds_control import delivery, outbox, unit
from rds_control.errors import Conflict, NotFound
from rds_control.housekeeping import trim
from rds_control.reaper import reap
from rds_control.tasks import COMMAND_FOR_KIND
from rds_db.models import Task
from rds_db.provider import Database


class PrunerService:
    name = pruner.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()
    config = Config()

    @timer(interval=2)
    def relay_outbox(self):
        """Publish commands that were committed but not sent."""
        outbox.publish_pending(self.db.session_factory, self.bus,
                               older_than=float(self.config.get("OUTBOX_GRACE", 5)))

    @timer(interval=5)
    def reap_tasks(self):
        """End tasks whose agent went silent, nobody took, or cancel never confirmed."""
        return self.reap_now()

    @timer(interval=3600)
    def trim_tables(self):
        """Delete bookkeeping rows nobody needs any more."""
        return unit.run(self.db.session_factory, None, trim)

    @timer(interval=2)
    def deliver_notifications(self):
        """Send due email and webhook notifications (retried with backoff)."""
        return delivery.deliver_due(self.db.session_factory, delivery.settings_from(self.config))

    @rpc
    def reap_now(self):
        """Run the reaper once; returns how many tasks it ended."""
        return unit.run(self.db.session_factory, self.bus, reap,
                        agent_timeout=float(self.config.get("AGENT_TIMEOUT", 30)),
                        queue_timeout=float(self.config.get("QUEUE_TIMEOUT", 3600)),
                        cancel_timeout=float(self.config.get("CANCEL_TIMEOUT", 60)))

    @rpc
    def running_tasks(self):
        """Every task that has not ended: id, kind, status, project, version, agent."""
        with self.db.transaction() as session:
            tasks = session.scalars(select(Task).where(Task.finished_at.is_(None))
                                    .order_by(Task.created_at)).all()
            return [{"id": t.id, "kind": t.kind, "status": t.status, "pool": t.pool,
                     "project": t.project.name, "version": t.command.get("version"),
                     "agent": t.agent, "created_at": t.created_at.isoformat()}
                    for t in tasks]

    @rpc
    def resend_command(self, task_id):
        """Publish a queued task's command again (e.g. after purging a queue)."""
        with self.db.transaction() as session:
            task = session.get(Task, task_id)
            if task is None:
                raise NotFound("no task %s" % task_id)
            if task.status != "queued":
                raise Conflict("task %s is %s; only queued tasks can be re-sent"
                               % (task_id, task.status))
            command = parse_command(COMMAND_FOR_KIND[task.kind], task.command)
            pool = task.pool
        self.bus.send_command(command, pool)
        return {"task_id": task_id, "resent": True}

