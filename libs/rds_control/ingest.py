"""Applying agent events to the database, idempotently, in batches.

Rules (SPEC §1, §3):

* an event for an unknown task, or one reaching beyond its task (servers of
  another project, a start by an agent of another service or pool), is
  rejected (``RejectedEvent``): the consumer dead-letters it with the reason;
* an event from a run that is not the task's current run changes nothing
  (a redelivered command starts a new run: its ``task_started`` carries
  ``redelivered`` and takes over the task);
* facts (log chunks, step timings, "server N is ready") are applied whatever
  their order, idempotently, even after the task ended (several ingest
  workers may apply one task's events in parallel);
* a state-changing event whose ``seq`` is not above the last one applied is
  a duplicate or arrived late, and changes nothing; once a task has ended,
  no state-changing event is applied;
* release statuses only move along the state machine of
  ``rds_core.lifecycle``; anything else is dropped with a log line;
* a release's stored log stops at ``RELEASE_LOG_LIMIT`` bytes, the chunk
  that reaches it ending with a note saying so.

Text PostgreSQL cannot store (NUL, lone surrogates) is replaced before
anything is written, so such an event never fails to store: no log line is
lost and no terminal event is stuck behind it. How a run begins and ends
(shared with the reaper and claims) lives in ``rds_control.outcomes``.

Two events concern no task: heartbeats (on their own path now, but agents of
an older version send them here; ``rds_control.heartbeats``) and the
pruner's probes, which tell how far behind ingest is
(``rds_control.ingest_lag``).

**Batches.** ``apply_batch`` applies many events in one transaction, in
order, each by the rules above (``apply_event`` is a batch of one). Locks,
always in this order: the releases, then the tasks, of the tasks that get a
state-changing event (or a step timing, or whose run has not begun), with
``FOR NO KEY UPDATE``, ordered by id; tasks that only get log chunks and
"server ready" facts are not locked (their rows are only referenced, which
takes key-share locks that conflict with none of these). Log chunks are
stored with one multi-row insert; each task and kind gets one change row
per batch, with one NOTIFY (``rds_control.changes.batched``); ``seen_at`` is
written once per batch (for an unlocked task, at most once a second, and not
at all while another transaction holds the row: that one is applying its
events). ``apply_events`` runs a batch through ``rds_control.unit``
(deadlocks retried at once) and, if it fails, each event alone, so one bad
event costs no other its place: each gets its own outcome.

Commands caused by an event (automatic retries) are queued in the outbox of
the same transaction and published after the commit.
"""
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from rds_contracts import activator, agents, builder, gc, ingest, migrator
from rds_contracts.base import Message, TaskEvent, sanitize
from rds_contracts.registry import COMMAND_SERVICE
from rds_control import audit, configs, families, heartbeats, ingest_lag, removal, unit
from rds_control.changes import batched, record_change, release_changed
from rds_control.db_errors import DbFailure, classify
from rds_control.outcomes import (
    begin_run,
    cancel_build,
    fail_activation,
    fail_build,
    move_release,
    record_current,
    record_targets,
    target_of,
)
from rds_control.tasks import finish_task, is_active, lock_tasks
from rds_core.lifecycle import TASK_ACTIVE, ReleaseStatus, TargetState, TaskStatus
from rds_db.models import Agent, ReleaseRequest, Server, Task, TaskLog, TaskLogSize
from rds_db.models.base import utcnow
from rds_settings import get_settings

log = logging.getLogger(__name__)
S = ReleaseStatus

#: Most bytes of build output stored per release (``RDS_RELEASE_LOG_LIMIT``).
RELEASE_LOG_LIMIT = get_settings().release_log_limit
TRUNCATED = ("\n[rds: log truncated: this release's log reached its limit of %d bytes "
             "(RDS_RELEASE_LOG_LIMIT); later output was dropped]\n")
#: An unlocked task's ``seen_at`` is rewritten when it is older than this.
SEEN_EVERY = timedelta(seconds=1)

#: How an event of one kind is applied to its (current, locked or fact) task.
Handler = Callable[[Session, Task, Any], None]
#: One event as the consumer hands it over: ``(name, event)``.
NamedEvent = tuple[str, Message]
#: What became of one event of a batch: None (applied, or dropped by a rule) or the
#: exception that stopped it (``RejectedEvent``: dead-letter it with the reason).
Outcome = BaseException | None


def apply_event(session: Session, name: str, event: Message) -> None:
    """Apply one agent event (a batch of one); raises ``RejectedEvent``."""
    outcome = apply_batch(session, [(name, event)])[0]
    if outcome is not None:
        raise outcome


def apply_batch(session: Session, events: Sequence[NamedEvent]) -> list[Outcome]:
    """Apply ``events`` in order in the caller's transaction; one outcome per event.

    A rejected event changes nothing and the others still apply; any other
    error propagates (the caller rolls the whole batch back).
    """
    batch = _Batch(session, [(name, _storable(event)) for name, event in events])
    with batched(session):
        outcomes = batch.apply()
    batch.finish()
    return outcomes


def apply_events(session_factory: sessionmaker[Session], publisher: Any,
                 events: Sequence[NamedEvent]) -> list[Outcome]:
    """Apply a batch in one transaction (``rds_control.unit``); if that fails, each
    event in its own, so each gets its own outcome (the database being away: every
    event gets that error, to be retried later)."""
    try:
        return unit.run(session_factory, publisher, apply_batch, events)
    except Exception as exc:
        if len(events) == 1 or classify(exc) == DbFailure.CONNECTION:
            return [exc] * len(events)
        log.warning("a batch of %d events failed (%s: %s); applying them one by one",
                    len(events), type(exc).__name__, exc)
    outcomes: list[Outcome] = []
    for name, event in events:
        try:
            unit.run(session_factory, publisher, apply_event, name, event)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


#: Facts that do not lock their task (the rest are applied with the task locked).
_UNLOCKED = frozenset({agents.TASK_LOG, builder.SERVER_READY})

LogKey = tuple[str, int | str]
ChunkKey = tuple[str, str, int]


class _Batch:
    """The state of one batch: its tasks, the log chunks to store, the bytes of log
    stored per release (or per task without one)."""

    def __init__(self, session: Session, events: list[NamedEvent]) -> None:
        self.session = session
        self.events = events
        self.now = utcnow()
        self.tasks: dict[str, Task] = {}
        self.locked: set[str] = set()
        self.seen: set[str] = set()
        self.chunks: dict[ChunkKey, dict[str, Any]] = {}
        self.stored_chunks: set[ChunkKey] = set()
        self.log_used: dict[LogKey, int] = {}

    def apply(self) -> list[Outcome]:
        self._load()
        outcomes: list[Outcome] = []
        for name, event in self.events:
            try:
                self._apply_one(name, event)
            except RejectedEvent as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    def _load(self) -> None:
        """Lock what the batch changes (releases, then tasks, by id); load the rest."""
        names: dict[str, set[str]] = {}
        for name, event in self.events:
            if isinstance(event, TaskEvent):
                names.setdefault(event.task_id, set()).add(name)
        if not names:
            return
        rows = self.session.execute(select(Task.id, Task.release_id, Task.run_id, Task.status)
                                    .where(Task.id.in_(names))).all()
        lock = {row.id for row in rows if names[row.id] - _UNLOCKED
                or (row.run_id is None and TaskStatus(row.status) in TASK_ACTIVE)}
        if lock:
            releases = {row.release_id for row in rows
                        if row.id in lock and row.release_id is not None}
            self.tasks.update((task.id, task) for task in lock_tasks(self.session, lock, releases))
            self.locked = lock
        rest = {row.id for row in rows} - lock
        if rest:
            self.tasks.update((task.id, task) for task in self.session.scalars(
                select(Task).where(Task.id.in_(rest))))
        self._load_log_sizes(names)

    def _load_log_sizes(self, names: dict[str, set[str]]) -> None:
        """Bytes already stored for the releases (or tasks) that get log chunks."""
        tasks = [self.tasks[t] for t, n in names.items() if agents.TASK_LOG in n
                 and t in self.tasks]
        if not tasks:
            return
        releases = {t.release_id for t in tasks if t.release_id is not None}
        solo = {t.id for t in tasks if t.release_id is None}
        for task in tasks:
            self.log_used[_log_key(task)] = 0
        for release_id, task_id, size in self.session.execute(
                select(Task.release_id, Task.id, TaskLogSize.bytes)
                .join(TaskLogSize, TaskLogSize.task_id == Task.id)
                .where(or_(Task.release_id.in_(releases), Task.id.in_(solo)))):
            key: LogKey = ("release", release_id) if release_id is not None else ("task", task_id)
            self.log_used[key] += size
        incoming: dict[LogKey, int] = {}
        chunks = []
        for _, event in self.events:
            if isinstance(event, agents.TaskLog) and event.task_id in self.tasks:
                key = _log_key(self.tasks[event.task_id])
                incoming[key] = incoming.get(key, 0) + len(event.text.encode())
                chunks.append((event.task_id, event.run_id, event.seq))
        if any(self.log_used[key] + size > RELEASE_LOG_LIMIT for key, size in incoming.items()):
            # near the limit: a chunk stored before (a redelivery) must not count twice
            stored = self.session.execute(select(TaskLog.task_id, TaskLog.run_id, TaskLog.seq)
                                          .where(tuple_(TaskLog.task_id, TaskLog.run_id,
                                                        TaskLog.seq).in_(chunks)))
            self.stored_chunks = {(row.task_id, row.run_id, row.seq) for row in stored}

    def _apply_one(self, name: str, event: Any) -> None:
        session = self.session
        if name in _NOT_TASK_EVENTS:  # heartbeats of older agents; the pruner's probes
            _NOT_TASK_EVENTS[name](session, event)
            return
        task = self.tasks.get(event.task_id)
        if task is None:
            raise RejectedEvent("%s for unknown task %s" % (name, event.task_id))
        check_ownership(session, name, task, event)
        self._seen(task)
        if name == agents.TASK_STARTED:
            _apply_started(session, task, event)
            return
        if task.run_id is None and is_active(task):
            _begin_run(session, task, event)  # this run's task_started is still in flight
        if event.run_id != task.run_id:
            log.info("dropping %s from stale run %s of task %s", name, event.run_id, task.id)
            return
        if name == agents.TASK_LOG:
            self._store_log(task, event)
            return
        if name in _FACTS:
            _FACTS[name](session, task, event)
            return
        if name in _FACT_PARTS:
            _FACT_PARTS[name](session, task, event)
        if not is_active(task):
            log.info("dropping %s for task %s, which already ended (%s)", name, task.id,
                     task.status)
            return
        if event.seq <= task.last_seq:
            log.info("dropping %s seq %d of task %s: already at %d", name, event.seq, task.id,
                     task.last_seq)
            return
        task.last_seq = event.seq
        _HANDLERS[name](session, task, event)

    def _seen(self, task: Task) -> None:
        if task.id in self.locked:
            task.seen_at = self.now
        elif task.seen_at is None or task.seen_at < self.now - SEEN_EVERY:
            self.seen.add(task.id)

    def _store_log(self, task: Task, event: agents.TaskLog) -> None:
        key = _log_key(task)
        text = _within_log_limit(self.log_used[key], event.text)
        if text is None:
            return
        chunk = (task.id, event.run_id, event.seq)
        if chunk not in self.chunks and chunk not in self.stored_chunks:
            self.log_used[key] += len(text.encode())
            self.chunks[chunk] = {"task_id": task.id, "run_id": event.run_id, "seq": event.seq,
                                  "text": text, "created_at": event.at}
        record_change(self.session, "log", project_id=task.project_id,
                      release_id=task.release_id, task_id=task.id)

    def finish(self) -> None:
        """Write what the batch collected; the rows every batch may lock come last."""
        session = self.session
        session.flush()
        sizes: dict[str, int] = {}
        if self.chunks:
            connection = session.connection()
            for task_id, size in connection.execute(_STORE_CHUNKS, list(self.chunks.values())):
                sizes[task_id] = sizes.get(task_id, 0) + size
        if self.seen:
            fresh = select(Task.id).where(Task.id.in_(self.seen)).order_by(Task.id) \
                .with_for_update(key_share=True, skip_locked=True)
            session.execute(update(Task).where(Task.id.in_(fresh)).values(seen_at=self.now)
                            .execution_options(synchronize_session=False))
            for task_id in self.seen:
                session.expire(self.tasks[task_id], ["seen_at"])
        if sizes:
            session.connection().execute(_ADD_SIZES, [{"task_id": task_id, "bytes": size}
                                                     for task_id, size in sorted(sizes.items())])


_STORE_CHUNKS = insert(TaskLog).on_conflict_do_nothing().returning(
    TaskLog.task_id, func.octet_length(TaskLog.text))
_new_sizes = insert(TaskLogSize)
_ADD_SIZES = _new_sizes.on_conflict_do_update(
    index_elements=[TaskLogSize.task_id],
    set_={"bytes": TaskLogSize.bytes + _new_sizes.excluded.bytes})


def _log_key(task: Task) -> LogKey:
    """Whose log a task's chunks count against: its release's, or its own."""
    return ("release", task.release_id) if task.release_id is not None else ("task", task.id)


class RejectedEvent(Exception):
    """An event that must not be applied: the consumer dead-letters it with this reason."""


def _servers_named(event: Any) -> set[int]:
    ids: set[int | None] = {getattr(event, "server_id", None)}
    results = getattr(event, "servers", None)
    if isinstance(results, (list, tuple)):  # build_installing's ``servers`` is a count
        ids.update(result.server_id for result in results)
    return {id_ for id_ in ids if id_ is not None}


def check_ownership(session: Session, name: str, task: Task, event: Any) -> None:
    """Refuse an event that reaches beyond its task.

    Every server it names must be one of the task's project; a ``task_started``
    must come from a copy of the service that takes the task's command, in the
    task's pool (when that copy has announced itself), and a second start of
    the current run must be by the agent already running it. Other events are
    bound to the agent by their run id (128 random bits chosen by the agent
    that started the run; stale runs are dropped below).
    """
    named = _servers_named(event)
    if named:
        owned = set(session.scalars(select(Server.id).where(
            Server.id.in_(named), Server.project_id == task.project_id)))
        if named - owned:
            raise RejectedEvent("%s of task %s names server(s) %s outside project %s"
                                % (name, task.id, sorted(named - owned), task.project_id))
    if name != agents.TASK_STARTED:
        return
    service = COMMAND_SERVICE.get(task.kind)
    parts = event.agent.split("/")
    if service is not None and (len(parts) < 3 or parts[-2] != service):
        raise RejectedEvent("task %s (%s) started by %r, which is not a %s copy"
                            % (task.id, task.kind, event.agent, service))
    known = session.get(Agent, event.agent)
    if known is not None and known.pool != task.pool:
        raise RejectedEvent("task %s of pool %s started by %s of pool %s"
                            % (task.id, task.pool, event.agent, known.pool))
    if task.run_id == event.run_id and task.agent not in (None, event.agent):
        raise RejectedEvent("run %s of task %s belongs to %s, not %s"
                            % (event.run_id, task.id, task.agent, event.agent))


def _storable(event: Message) -> Message:
    """``event`` with its text made storable (an agent should have done it already)."""
    wire = event.to_wire()
    clean = sanitize(wire)
    return event if clean == wire else type(event).model_validate(clean)


def _apply_started(session: Session, task: Task, event: agents.TaskStarted) -> None:
    if not is_active(task):
        log.info("task %s already ended (%s); ignoring its start by %s", task.id, task.status,
                 event.agent)
        return
    if task.run_id == event.run_id:  # other events of this run arrived first
        task.agent = task.agent or event.agent
        return
    if task.run_id is not None:
        if not event.redelivered:
            log.info("dropping a second start of task %s by %s", task.id, event.agent)
            return
        log.warning("task %s restarted by %s after its run %s died", task.id, event.agent,
                    task.run_id)
        task.last_seq = 0
    task.agent = event.agent
    _begin_run(session, task, event)


def _begin_run(session: Session, task: Task, event: TaskEvent) -> None:
    """Make ``event``'s run the task's current run."""
    begin_run(session, task, event.run_id, event.at)


def _within_log_limit(used: int, text: str) -> str | None:
    """``text``, cut so a log of ``used`` bytes stays within RELEASE_LOG_LIMIT bytes;
    the chunk that reaches the limit ends with TRUNCATED; later ones are dropped (None)."""
    room = RELEASE_LOG_LIMIT - used
    if room <= 0:
        return None
    data = text.encode()
    if len(data) <= room:
        return text
    return data[:room].decode(errors="ignore") + TRUNCATED % RELEASE_LOG_LIMIT


def _apply_step(session: Session, task: Task, event: agents.TaskStep) -> None:
    steps = dict(task.steps or {})
    step = dict(steps.get(event.step, {}))
    step[event.state] = event.at.isoformat()
    steps[event.step] = step
    task.steps = steps
    record_change(session, "task", project_id=task.project_id, release_id=task.release_id,
                  task_id=task.id)


def _record_build(session: Session, task: Task, event: builder.BuildBuilt) -> None:
    """The facts of ``build_built``: which commit was built, and when."""
    release = task.require_release()
    if _is_latest_build(task):
        release.commit = event.commit
        release.built_at = event.at
        release.cron_config = event.cron


def _on_build_built(session: Session, task: Task, event: builder.BuildBuilt) -> None:
    move_release(session, task.require_release(), S.BUILT, task)


def _on_build_installing(session: Session, task: Task,
                         event: builder.BuildInstalling) -> None:
    move_release(session, task.require_release(), S.INSTALLING, task)


def _is_latest_build(task: Task) -> bool:
    builds = [t for t in task.require_release().tasks if t.kind == "build"]
    return bool(builds) and builds[-1].id == task.id


def _on_server_ready(session: Session, task: Task, event: builder.ServerReady) -> None:
    release = task.require_release()
    if not _is_latest_build(task):
        return  # a late report of an earlier build of this release
    target = target_of(session, release, event.server_id)
    if target is None:
        return
    target.state, target.manifest_sha256 = TargetState.READY, event.manifest_sha256
    target.error, target.updated_at = None, event.at
    release_changed(session, release, task_id=task.id)


def _on_build_finished(session: Session, task: Task,
                       event: builder.BuildFinished) -> None:
    release = task.require_release()
    finish_task(session, task, TaskStatus.SUCCEEDED)
    record_targets(session, release, event.servers, event.at)
    release.installed_at = event.at
    release.last_error = None
    _record_migrations(session, release, event.migrations)
    if families.hold_parent(session, release):  # a parent is installed with its children
        return
    if move_release(session, release, S.INSTALLED, task):
        audit.record(session, "release.installed", "%s %s is installed on %d server(s)"
                     % (release.project.name, release.version, len(event.servers)),
                     actor="agent:%s" % task.agent, release=release)
        families.child_installed(session, release)


def _on_build_failed(session: Session, task: Task, event: builder.BuildFailed) -> None:
    fail_build(session, task, event.phase, event.reason, "agent:%s" % task.agent,
               servers=event.servers, at=event.at)


def _on_build_cancelled(session: Session, task: Task,
                        event: builder.BuildCancelled) -> None:
    cancel_build(session, task, event.reason, "agent:%s" % task.agent)


def _on_activation_finished(session: Session, task: Task,
                            event: activator.ActivationFinished) -> None:
    from rds_control.releases import live_release

    release = task.require_release()
    finish_task(session, task, TaskStatus.SUCCEEDED)
    record_current(session, event.servers, event.at)
    previous = live_release(session, release.project_id)
    if previous is not None and previous.id != release.id:
        previous.status = S.OLD
        previous.deactivated_at = event.at
        release_changed(session, previous)
    release.status_before_use = None
    release.activated_at = event.at
    release.last_error = None
    move_release(session, release, S.USED, task)
    audit.record(session, "release.activated", "%s %s is live on %d server(s)%s"
                 % (release.project.name, release.version, len(event.servers),
                    " (was %s)" % previous.version if previous is not None else ""),
                 actor="agent:%s" % task.agent, release=release)
    families.activated(session, task)


def _on_activation_failed(session: Session, task: Task,
                          event: activator.ActivationFailed) -> None:
    fail_activation(session, task, event.reason, event.rolled_back, "agent:%s" % task.agent,
                    servers=event.servers, at=event.at)


def _record_migrations(session: Session, release: ReleaseRequest, listing: Any) -> None:
    from rds_control.migrations import record_listing

    record_listing(session, release, listing)


def _on_migration_event(name: str) -> Handler:
    def handle(session: Session, task: Task, event: Any) -> None:
        from rds_control.migrations import on_event

        on_event(session, name, task, event)
    return handle


#: Events that concern no task (``rds_control.heartbeats``, ``rds_control.ingest_lag``).
_NOT_TASK_EVENTS: dict[str, Callable[[Session, Any], None]] = {
    agents.AGENT_HEARTBEAT: heartbeats.apply_heartbeat,
    ingest.INGEST_PROBE: ingest_lag.apply_probe,
}

#: Facts applied through the ORM (log chunks are collected by the batch).
_FACTS: dict[str, Handler] = {
    agents.TASK_STEP: _apply_step,
    builder.SERVER_READY: _on_server_ready,
}

#: Events that carry facts and a transition: the facts apply whatever the order.
_FACT_PARTS: dict[str, Handler] = {
    builder.BUILD_BUILT: _record_build,
}

_HANDLERS: dict[str, Handler] = {
    builder.BUILD_BUILT: _on_build_built,
    builder.BUILD_INSTALLING: _on_build_installing,
    builder.BUILD_FINISHED: _on_build_finished,
    builder.BUILD_FAILED: _on_build_failed,
    builder.BUILD_CANCELLED: _on_build_cancelled,
    activator.ACTIVATION_FINISHED: _on_activation_finished,
    activator.ACTIVATION_FAILED: _on_activation_failed,
    gc.REMOVAL_FINISHED: removal.on_removal_finished,
    gc.REMOVAL_FAILED: removal.on_removal_failed,
    gc.SERVERS_INSPECTED: removal.on_servers_inspected,
    gc.INSPECTION_FAILED: removal.on_inspection_failed,
    **{name: _on_migration_event(name) for name in (
        migrator.MIGRATION_FINISHED, migrator.MIGRATION_FAILED, migrator.MIGRATION_CANCELLED)},
}
_HANDLERS.update(configs.ingest_handlers())  # config_pushed, config_push_failed
