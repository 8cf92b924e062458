"""The pruner service: periodic safety nets and operator RPCs.

* every 2 s, publish outbox commands still unsent after ``OUTBOX_GRACE``
  seconds (the web or ingest died between commit and publish, or the broker
  was away);
* every 5 s, end tasks that can no longer finish (``rds_control.reaper``);
* every 5 s, send a probe through ingest's queue: when ingest applies it, the
  reaper knows how far behind ingest is (``rds_control.ingest_lag``);
* every hour, trim sent commands, old change-feed rows and long-gone agents
  (``rds_control.housekeeping``);
* every ``RETENTION_INTERVAL`` seconds (5 minutes), start removals the
  retention plan allows, and every minute (or ``DRIFT_CHECK_INTERVAL``
  seconds if shorter) check the servers of projects not checked for
  ``DRIFT_CHECK_INTERVAL`` seconds (``rds_control.removal``). These two
  timers read their interval from the settings when the container starts
  (``rds_settings.timer``).
* every 2 s, deliver due notifications (``rds_control.delivery``; settings
  ``RDS_SMTP_*``, ``RDS_PUBLIC_URL``, ``RDS_NOTIFY_TIMEOUT``).

It applies every agent's heartbeats, from their own queue
(``rds.pruner.heartbeats``, never behind the events; ``rds_control.heartbeats``):
the pruner is what judges them (reaper, claims), so the one process that
could wrongly find an agent silent is the one keeping its heartbeats fresh.

It also answers the agents' fencing claims (``claim_task``, see
``rds_control.claims``): the web side owns the database, so it decides which
run of a task may act. A claim must be signed with ``RDS_BUS_EVENT_KEY``
(``rds_bus.signing``) when that key is set: an unsigned or forged claim is
refused ("not yours, stop") without reading the task.

Settings: ``RDS_AGENT_TIMEOUT``, ``RDS_QUEUE_TIMEOUT``, ``RDS_CANCEL_TIMEOUT``,
``RDS_OUTBOX_GRACE``, ``RDS_TASK_DEADLINE_<KIND>``, ``RDS_LOST_TASK_GRACE``,
``RDS_RETENTION_*`` (``RDS_RETENTION_INTERVAL``), ``RDS_DRIFT_CHECK_INTERVAL``
(``rds_settings``; README "Configuration").

Operator RPCs (``nameko shell``, README "Operations"): ``running_tasks()``,
``show_task(id)``, ``agents()``, ``resend_command(id)``, ``reap_now()``,
``retention_plan(name)``, ``check_servers(name)``.
"""
import logging
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from rds_bus import signing
from rds_bus.heartbeats import heartbeat_consumer
from rds_bus.providers import Bus, ClaimSignature
from rds_bus.runtime import AgentRuntime
from rds_contracts import pruner
from rds_contracts.agents import AgentHeartbeat
from rds_contracts.base import utcnow
from rds_contracts.ingest import IngestProbe
from rds_contracts.pruner import ClaimAnswer, ClaimRequest
from rds_contracts.registry import parse_command
from rds_control import delivery, operations, outbox, removal, unit
from rds_control.claims import claim_task
from rds_control.db_errors import is_transient
from rds_control.errors import Conflict, NotFound
from rds_control.heartbeats import apply_heartbeat
from rds_control.housekeeping import trim
from rds_control.ingest_lag import PROBE_INTERVAL
from rds_control.projects import get_project
from rds_control.reaper import reap
from rds_control.retention import RetentionSettings
from rds_control.tasks import COMMAND_FOR_KIND
from rds_db.models import Task
from rds_db.provider import Database
from rds_settings.dependency import SettingsDependency
from rds_settings.settings import Settings
from rds_settings.timer import setting_timer

log = logging.getLogger(__name__)

#: Seconds between looks for projects due a drift check (shorter if checks are more frequent).
DRIFT_TICK = 60.0


def drift_tick(settings: Settings) -> float:
    return min(DRIFT_TICK, settings.drift_check_interval)


class PrunerService:
    name = pruner.SERVICE_NAME

    db = Database()
    bus = Bus()
    # heartbeats too, so the agents page shows the web-side services alive
    runtime = AgentRuntime()
    settings = SettingsDependency()
    claim_signer = ClaimSignature()

    @timer(interval=2)
    def relay_outbox(self) -> None:
        """Publish commands that were committed but not sent."""
        outbox.publish_pending(self.db.session_factory, self.bus,
                               older_than=self.settings.outbox_grace)

    @heartbeat_consumer(drop_if=is_transient)
    def handle_heartbeat(self, heartbeat: AgentHeartbeat) -> None:
        """Apply one agent heartbeat (a transient database error drops it: the next
        one, seconds later, replaces it)."""
        unit.run(self.db.session_factory, None, apply_heartbeat, heartbeat)

    @timer(interval=PROBE_INTERVAL)
    def probe_ingest(self) -> None:
        """Send a probe through the events queue; its send time, once ingest has
        applied it, is the ingest clock of the reaper."""
        self.bus.send_event(IngestProbe(sender=self.runtime.name, at=utcnow()))

    @timer(interval=5)
    def reap_tasks(self) -> int:
        """End tasks whose agent went silent, nobody took, or cancel never confirmed."""
        return self.reap_now()

    @timer(interval=3600)
    def trim_tables(self) -> Any:
        """Delete bookkeeping rows nobody needs any more."""
        return unit.run(self.db.session_factory, None, trim)

    @setting_timer(interval=lambda settings: settings.retention_interval)
    def remove_old_releases(self) -> list[Any]:
        """Start the removals the retention plan of every project allows."""
        return removal.run_for_every_project(
            self.db.session_factory, self.bus, removal.schedule_removals,
            RetentionSettings.from_settings(self.settings))

    @setting_timer(interval=drift_tick)
    def check_servers_when_due(self) -> list[Any]:
        """Check the servers of projects not checked for DRIFT_CHECK_INTERVAL seconds."""
        return removal.run_for_every_project(
            self.db.session_factory, self.bus, removal.schedule_inspection,
            self.settings.drift_check_interval)

    @rpc
    def retention_plan(self, project_name: str) -> dict[str, Any]:
        """Dry run: what retention would remove from a project now, and why each other stays."""
        with self.db.transaction() as session:
            project = get_project(session, project_name)
            return removal.project_plan(session, project,
                                        RetentionSettings.from_settings(self.settings)).to_wire()

    @rpc
    def check_servers(self, project_name: str) -> dict[str, str]:
        """Read current and releases/ of every server of a project now (drift)."""
        return {"task_id": unit.run(self.db.session_factory, self.bus,
                                    lambda s: removal.check_servers(s, project_name).id)}

    @timer(interval=2)
    def deliver_notifications(self) -> tuple[int, int]:
        """Send due email and webhook notifications (retried with backoff)."""
        return delivery.deliver_due(self.db.session_factory, delivery.settings_from(self.settings))

    @rpc
    def reap_now(self) -> int:
        """Run the reaper once; returns how many tasks it ended."""
        return unit.run(self.db.session_factory, self.bus, reap,
                        agent_timeout=self.settings.agent_timeout,
                        queue_timeout=self.settings.queue_timeout,
                        cancel_timeout=self.settings.cancel_timeout,
                        deadlines=self.settings.task_deadlines(),
                        grace=self.settings.lost_task_grace)

    @rpc
    def claim_task(self, request: dict[str, Any],
                   signature: str | None = None) -> dict[str, Any]:
        """Grant or refuse an agent's claim on a task (fencing); returns a ClaimAnswer.

        The claim is verified first (``signing.verify_claim``, over the request as
        received): with a key set, an unsigned or wrongly signed one is refused.
        """
        try:
            signing.verify_claim(self.claim_signer, request, signature)
        except signing.BadSignature as exc:
            log.warning("refused claim %r: %s", request, exc)
            return ClaimAnswer(granted=False, reason=str(exc)).to_wire()
        claim = ClaimRequest.model_validate(request)
        answer = unit.run(self.db.session_factory, self.bus, claim_task, claim,
                          agent_timeout=self.settings.agent_timeout)
        return answer.to_wire()

    @rpc
    def running_tasks(self) -> list[dict[str, Any]]:
        """Every task that has not ended: id, kind, status, project, version, agent."""
        with self.db.transaction() as session:
            return operations.running_tasks(session)

    @rpc
    def show_task(self, task_id: str) -> dict[str, Any]:
        """One task in full: command, steps, error, agent, timestamps."""
        with self.db.transaction() as session:
            return operations.task_detail(session, task_id)

    @rpc
    def agents(self) -> list[dict[str, Any]]:
        """Every agent copy heard from in the last day: pool, online, running tasks."""
        with self.db.transaction() as session:
            return operations.agents(session)

    @rpc
    def resend_command(self, task_id: str) -> dict[str, Any]:
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

