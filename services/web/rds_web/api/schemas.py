"""What API responses look like: pydantic models, one per shape, built from rows.

The OpenAPI document takes its response schemas from these models
(``rds_web.api.openapi``), so what the document promises is what the API
sends. A release carries ``actions``: every action's answer from
``rds_control.policy`` for the caller (allowed, or the reason it is not),
the same answers the control plane enforces and the board renders.
"""
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select
from sqlalchemy.orm import Session, object_session

from rds_control import facts, logs, policy, release_data
from rds_control.policy import Action
from rds_control.release_data import ReleaseData, TaskData
from rds_core.lifecycle import ReleaseStatus, TargetState, TaskKind, TaskStatus
from rds_db.models import Agent, Project, ReleaseRequest, Server, Task, User


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriftItem(Out):
    #: ``current``, ``missing`` or ``unknown`` (see ``rds_control.drift``).
    kind: str
    detail: str


class ServerOut(Out):
    id: int
    host: str
    port: int
    user: str
    #: What ``current`` pointed at when an agent last read it back.
    current_version: str | None
    current_checked_at: datetime | None
    #: Differences with the database found by the last check (empty: none).
    drift: list[DriftItem] = []
    inspected_at: datetime | None = None
    inspection_error: str | None = None

    @classmethod
    def of(cls, server: Server) -> "ServerOut":
        return cls.model_validate(cls.data(server))

    @staticmethod
    def data(server: Server) -> dict[str, Any]:
        """The fields of ``ServerOut`` as plain values."""
        return {"id": server.id, "host": server.host, "port": server.port,
                "user": server.user, "current_version": server.current_version,
                "current_checked_at": server.current_checked_at,
                "drift": [dict(item) for item in server.drift or []],
                "inspected_at": server.inspected_at,
                "inspection_error": server.inspection_error}


class ProjectOut(Out):
    name: str
    repository: str
    default_ref: str
    deploy_path: str
    agent_pool: str
    keep_releases: int
    post_migration_delay_days: int
    #: ``user@host:port`` migrations run on (None: the first server).
    migration_server: str | None = None
    upload_concurrency: int
    upload_max_failures: int
    shared_files: list[str]
    shared_dirs: list[str]
    servers: list[ServerOut]
    scripts: dict[str, str]
    live_version: str | None
    created_at: datetime | None

    @classmethod
    def of(cls, project: Project, live: ReleaseRequest | str | None = None) -> "ProjectOut":
        """``live``: the live release or its version (None: none is live)."""
        return cls.model_validate(cls.data(project, live))

    @staticmethod
    def data(project: Project, live: ReleaseRequest | str | None = None) -> dict[str, Any]:
        """The fields of ``ProjectOut`` as plain values (see :func:`projects_json`)."""
        return {
            "name": project.name, "repository": project.repository,
            "default_ref": project.default_ref, "deploy_path": project.deploy_path,
            "agent_pool": project.agent_pool, "keep_releases": project.keep_releases,
            "post_migration_delay_days": project.post_migration_delay_days,
            "migration_server": project.migration_server,
            "upload_concurrency": project.upload_concurrency,
            "upload_max_failures": project.upload_max_failures,
            "shared_files": list(project.shared_files or []),
            "shared_dirs": list(project.shared_dirs or []),
            "servers": [ServerOut.data(s) for s in project.servers],
            "scripts": {s.kind: s.body for s in project.scripts},
            "live_version": (live if live is None or isinstance(live, str)
                             else live.version),
            "created_at": project.created_at}


class ProjectList(Out):
    projects: list[ProjectOut]


class RetentionDecision(Out):
    id: int
    version: str
    status: str
    #: Why it stays or goes (``rds_control.retention.Verdict``).
    verdict: str
    remove: bool
    reason: str


class RetentionPlanOut(Out):
    """What retention removes next (oldest first) and why every other release stays."""

    keep_releases: int
    rollback_floor: str | None
    remove: list[RetentionDecision]
    keep: list[RetentionDecision]


class TaskStarted(Out):
    task_id: str


class StepTimes(Out):
    started: str | None = None
    finished: str | None = None


class TaskOut(Out):
    id: str
    kind: TaskKind
    status: TaskStatus
    agent: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    #: Step timings: ``{step: {"started": iso, "finished": iso}}``.
    steps: dict[str, StepTimes]
    #: The task's output (only with ``?log=1``): its last MiB, after a note when cut.
    log: str | None = None

    @classmethod
    def of(cls, task: Task, with_log: bool = False) -> "TaskOut":
        session = object_session(task) if with_log else None
        if with_log and session is None:
            raise ValueError("task %s is not attached to a session" % task.id)
        return cls.model_validate(cls.data(task, session))

    @staticmethod
    def data(task: "Task | TaskData", log_from: Session | None = None) -> dict[str, Any]:
        """The fields of ``TaskOut`` (validated by the caller, once per response); with
        ``log_from``, the task's log tail read in that session."""
        log = None
        if log_from is not None:  # the tail: a whole 20 MiB log per request would be a DoS
            omitted, chunks = logs.tail_chunks(log_from, task.id, logs.API_BYTES)
            log = "".join(text for _, text in chunks)
            if omitted:
                log = logs.omitted_note(omitted, "/builds/%s/log.txt" % task.id) + log
        return {"id": task.id, "kind": task.kind, "status": task.status, "agent": task.agent,
                "created_at": task.created_at, "started_at": task.started_at,
                "finished_at": task.finished_at, "error": task.error,
                "steps": {name: {"started": times.get("started"),
                                 "finished": times.get("finished")}
                          for name, times in (task.steps or {}).items()},
                "log": log}


class TargetOut(Out):
    server_id: int
    server: str
    state: TargetState
    error: str | None


class ActionAnswer(Out):
    allowed: bool
    #: Why not, in words a person can act on (None when allowed).
    reason: str | None = None


class ReleaseOut(Out):
    id: int
    project: str
    version: str
    status: ReleaseStatus
    release_line: int
    comment: str
    ref: str
    commit: str | None
    author: str | None
    previous_version: str | None
    last_error: str | None
    build_attempts: int
    deleted: bool
    destroyed: bool
    pinned: bool
    #: The project's config revision this release was built with (its config links).
    config_revision: int | None = None
    #: What the release's cron script printed (installed when it goes live).
    cron: str | None = None
    #: Every action on this release for the caller: allowed, or why not.
    actions: dict[Action, ActionAnswer]
    #: Shorthands of ``actions.activate.allowed`` and ``actions.cancel.allowed``.
    can_activate: bool
    can_cancel: bool
    servers: list[TargetOut]
    #: Pre migrations this release needs that are not applied (activation waits for them).
    pending_pre_migrations: list[str] = []
    #: Post migrations this release introduced that have not run yet.
    pending_post_migrations: list[str] = []
    #: "Run pre migrations" of this release: none, running, done or failed.
    pre_migrations_status: str = "none"
    #: The project's rollback floor (no older release may go live), if any.
    rollback_floor: str | None = None
    created_at: datetime | None
    build_started_at: datetime | None
    built_at: datetime | None
    installed_at: datetime | None
    activated_at: datetime | None
    tasks: list[TaskOut]

    @classmethod
    def of(cls, release: ReleaseData, situation: policy.Situation, project: Project,
           log_from: Session | None = None) -> "ReleaseOut":
        return cls.model_validate(cls.data(release, situation, project, log_from))

    @staticmethod
    def data(release: ReleaseData, situation: policy.Situation, project: Project,
             log_from: Session | None = None) -> dict[str, Any]:
        """The fields of ``ReleaseOut`` as plain values: a list validates them all in one
        call (a model per row, task and step cost more than the database reads)."""
        release_facts = facts.release_facts(release, project.servers)
        answers = policy.evaluate(release_facts, situation)
        floor = situation.project.floor
        actions = {_NAMES[action]: {"allowed": denial is None,
                                    "reason": denial.reason if denial else None}
                   for action, denial in answers.items()}
        return {
            "id": release.id, "project": release.project_name, "version": release.version,
            "status": release.status, "release_line": release.release_line,
            "comment": release.comment, "ref": release.ref, "commit": release.commit,
            "author": release.author,
            "previous_version": release.previous_version, "last_error": release.last_error,
            "build_attempts": release.build_attempts,
            "deleted": release.deleted_at is not None,
            "destroyed": release.destroyed_at is not None, "pinned": bool(release.pinned),
            "config_revision": release.config_revision, "cron": release.cron_config,
            "actions": actions, "can_activate": actions["activate"]["allowed"],
            "can_cancel": actions["cancel"]["allowed"],
            "servers": [{"server_id": t.server_id, "server": t.server, "state": t.state,
                         "error": t.error} for t in release.targets],
            "pending_pre_migrations": list(policy.pending_pre(release_facts, situation)),
            "pending_post_migrations": [m.name for m in situation.project.unapplied_post
                                        if m.release_version == release.version],
            "pre_migrations_status": release.migration_status or "none",
            "rollback_floor": floor.version if floor is not None else None,
            "created_at": release.created_at, "build_started_at": release.build_started_at,
            "built_at": release.built_at, "installed_at": release.installed_at,
            "activated_at": release.activated_at,
            "tasks": [TaskOut.data(t, log_from) for t in release.tasks]}


#: Each action's JSON key (reading an enum member's value costs a property call each time).
_NAMES: dict[Action, str] = {action: action.value for action in Action}


class ReleaseList(Out):
    releases: list[ReleaseOut]


class AgentOut(Out):
    name: str
    service: str
    pool: str
    host: str
    pid: int
    version: str
    online: bool
    running_tasks: list[str]
    first_seen_at: datetime
    last_heartbeat_at: datetime

    @classmethod
    def of(cls, agent: Agent, online: bool) -> "AgentOut":
        return cls(name=agent.name, service=agent.service, pool=agent.pool, host=agent.host,
                   pid=agent.pid, version=agent.version, online=online,
                   running_tasks=list(agent.running_tasks or []),
                   first_seen_at=agent.first_seen_at, last_heartbeat_at=agent.last_heartbeat_at)


class AgentList(Out):
    agents: list[AgentOut]


class Health(Out):
    status: str
    database: str


class ErrorOut(Out):
    error: str
    #: The input field the error is about, when there is one.
    field: str | None = None


def dump(model: BaseModel) -> dict[str, object]:
    """A response body (JSON types only)."""
    return model.model_dump(mode="json", exclude_none=False)


def release_body(session: Session, release: ReleaseRequest | int, user: User | None,
                 with_log: bool = False) -> dict[str, object]:
    """One release (a row or its id) as the API returns it, with the caller's actions; read
    by ``rds_control.release_data`` like a listed one. :raise NotFound: no such id."""
    row, project = release_data.load_one(
        session, release if isinstance(release, int) else release.id)
    situation = facts.situations(session, [row], user, latest_for=[row.project_id],
                                 projects={project.id: project})[project.id]
    return dump(ReleaseOut.of(row, situation, project, session if with_log else None))


def releases_json(session: Session, query: Select[*tuple[Any, ...]], user: User | None) -> bytes:
    """The releases ``query`` selects (``rds_control.release_data.rows_query`` filtered,
    ordered and limited) as JSON (``ReleaseList``); the situations are loaded once for all
    of them. Written straight from plain values: validating 500 releases with their tasks
    and steps through the models cost more than reading them from the database. The values
    are the ones ``ReleaseOut.of`` validates for one release (a test checks that every
    listed release equals its ``GET /releases/<id>``)."""
    rows, projects = release_data.load(session, query)
    situations = facts.situations(session, rows, user, projects=projects)
    return pydantic_core.to_json({"releases": [
        ReleaseOut.data(r, situations[r.project_id], projects[r.project_id]) for r in rows]})


def projects_json(projects: Sequence[Project], live: dict[int, str]) -> bytes:
    """Projects as JSON (``ProjectList``), ``live`` giving each one's live version, written
    from the plain values ``ProjectOut.of`` validates for one project (like
    :func:`releases_json`)."""
    return pydantic_core.to_json({"projects": [ProjectOut.data(p, live.get(p.id))
                                               for p in projects]})
