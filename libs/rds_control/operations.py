"""What operators see through the pruner's RPCs (``nameko shell``), as plain dicts.

Kept out of the nameko service so the views are testable without a broker
and the service stays a thin adapter. Every value is JSON-serialisable
(nameko RPC replies are JSON).
"""
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rds_control.agents import list_agents
from rds_control.configs import redacted_command
from rds_control.errors import NotFound
from rds_db.models import Task


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_summary(task: Task) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "status": task.status, "pool": task.pool,
            "project": task.project.name, "version": task.command.get("version"),
            "agent": task.agent, "created_at": _when(task.created_at)}


def running_tasks(session: Session) -> list[dict[str, Any]]:
    """Every task that has not ended, oldest first."""
    tasks = session.scalars(select(Task).where(Task.finished_at.is_(None))
                            .order_by(Task.created_at)).all()
    return [task_summary(task) for task in tasks]


def task_detail(session: Session, task_id: str) -> dict[str, Any]:
    """One task with its command, steps, error and timestamps."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("no task %s" % task_id)
    return {**task_summary(task), "release_id": task.release_id, "lane": task.lane,
            "run_id": task.run_id, "last_seq": task.last_seq,
            "command": redacted_command(task.command),
            "steps": task.steps, "error": task.error, "started_at": _when(task.started_at),
            "finished_at": _when(task.finished_at), "seen_at": _when(task.seen_at),
            "cancel_requested_at": _when(task.cancel_requested_at)}


def agents(session: Session) -> list[dict[str, Any]]:
    """Every agent copy heard from in the last day, online first."""
    return [{"name": agent.name, "service": agent.service, "pool": agent.pool,
             "host": agent.host, "pid": agent.pid, "version": agent.version,
             "online": online, "running_tasks": list(agent.running_tasks or []),
             "last_heartbeat_at": _when(agent.last_heartbeat_at)}
            for agent, online in list_agents(session)]
