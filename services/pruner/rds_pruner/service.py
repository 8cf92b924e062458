"""The pruner service: periodic safety nets and operator RPCs.

* every 2 s, publish outbox commands still unsent after ``OUTBOX_GRACE``
  seconds (the web or ingest died between commit and publish, or the broker
  was away);
* every 5 s, end tasks that can no longer finish (``rds_control.reaper``);
* every hour, trim sent commands, old change-feed rows and long-gone agents
  (``rds_control.housekeeping``);
* every 5 minutes, start removals the retention plan allows, and every minute
  check the servers of projects not checked for ``DRIFT_CHECK_INTERVAL``
  seconds (``rds_control.removal``).

It also answers the agents' fencing claims (``claim_task``, see
``rds_control.claims``): the web side owns the database, so it decides which
run of a task may act.

Settings: ``RDS_AGENT_TIMEOUT``, ``RDS_QUEUE_TIMEOUT``, ``RDS_CANCEL_TIMEOUT``,
``RDS_OUTBOX_GRACE``, ``RDS_TASK_DEADLINE_<KIND>``, ``RDS_LOST_TASK_GRACE``,
``RDS_RETENTION_*``, ``RDS_DRIFT_CHECK_INTERVAL`` (``rds_settings``; README
"Configuration").

Operator RPCs (``nameko shell``, README "Operations"): ``running_tasks()``,
``show_task(id)``, ``agents()``, ``resend_command(id)``, ``reap_now()``,
``retention_plan(name)``, ``check_servers(name)``.
"""
from nameko.rpc import rpc
from nameko.timer import timer

from rds_bus.providers import Bus
from rds_bus.runtime import AgentRuntime
from rds_contracts import pruner
from rds_contracts.pruner import ClaimRequest
from rds_contracts.registry import parse_command
from rds_control import operations, outbox, removal, unit
from rds_control.claims import claim_task
from rds_control.errors import Conflict, NotFound
from rds_control.housekeeping import trim
from rds_control.projects import get_project
from rds_control.reaper import reap
from rds_control.retention import RetentionSettings
from rds_control.tasks import COMMAND_FOR_KIND
from rds_db.models import Task
from rds_db.provider import Database
from rds_settings.dependency import SettingsDependency


class PrunerService:
    name = pruner.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()
    settings = SettingsDependency()

    @timer(interval=2)
    def relay_outbox(self):
        """Publish commands that were committed but not sent."""
        outbox.publish_pending(self.db.session_factory, self.bus,
                               older_than=self.settings.outbox_grace)

    @timer(interval=5)
    def reap_tasks(self):
        """End tasks whose agent went silent, nobody took, or cancel never confirmed."""
        return self.reap_now()

    @timer(interval=3600)
    def trim_tables(self):
        """Delete bookkeeping rows nobody needs any more."""
        return unit.run(self.db.session_factory, None, trim)

    @timer(interval=300)
    def remove_old_releases(self):
        """Start the removals the retention plan of every project allows."""
        return removal.run_for_every_project(
            self.db.session_factory, self.bus, removal.schedule_removals,
            RetentionSettings.from_settings(self.settings))

    @timer(interval=60)
    def check_servers_when_due(self):
        """Check the servers of projects not checked for DRIFT_CHECK_INTERVAL seconds."""
        return removal.run_for_every_project(
            self.db.session_factory, self.bus, removal.schedule_inspection,
            self.settings.drift_check_interval)

    @rpc
    def retention_plan(self, project_name):
        """Dry run: what retention would remove from a project now, and why each other stays."""
        with self.db.transaction() as session:
            project = get_project(session, project_name)
            return removal.project_plan(session, project,
                                        RetentionSettings.from_settings(self.settings)).to_wire()

    @rpc
    def check_servers(self, project_name):
        """Read current and releases/ of every server of a project now (drift)."""
        return {"task_id": unit.run(self.db.session_factory, self.bus,
                                    lambda s: removal.check_servers(s, project_name).id)}

    @rpc
    def reap_now(self):
        """Run the reaper once; returns how many tasks it ended."""
        return unit.run(self.db.session_factory, self.bus, reap,
                        agent_timeout=self.settings.agent_timeout,
                        queue_timeout=self.settings.queue_timeout,
                        cancel_timeout=self.settings.cancel_timeout,
                        deadlines=self.settings.task_deadlines(),
                        grace=self.settings.lost_task_grace)

    @rpc
    def claim_task(self, request):
        """Grant or refuse an agent's claim on a task (fencing); returns a ClaimAnswer."""
        claim = ClaimRequest.model_validate(request)
        answer = unit.run(self.db.session_factory, self.bus, claim_task, claim,
                          agent_timeout=self.settings.agent_timeout)
        return answer.to_wire()

    @rpc
    def running_tasks(self):
        """Every task that has not ended: id, kind, status, project, version, agent."""
        with self.db.transaction() as session:
            return operations.running_tasks(session)

    @rpc
    def show_task(self, task_id):
        """One task in full: command, steps, error, agent, timestamps."""
        with self.db.transaction() as session:
            return operations.task_detail(session, task_id)

    @rpc
    def agents(self):
        """Every agent copy heard from in the last day: pool, online, running tasks."""
        with self.db.transaction() as session:
            return operations.agents(session)

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

