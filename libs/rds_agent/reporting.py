"""Report a task's progress as contract events.

One ``TaskReporter`` per run of a task: it numbers events (``seq``), batches
output into ``task_log`` chunks (flushed every ``flush_interval`` seconds by
a background thread, when a chunk is full, and before any other event so
the log always precedes the status it explains), and times steps. The
background flush sends whole lines only, unless a partial line has waited
for ``partial_line_wait`` seconds (a progress bar without newlines).

Output is sanitised before it is published: NUL and undecodable bytes become
U+FFFD, so every line can be stored.

Every event is published until the broker confirms it: a failed publish is
retried with backoff (the broker restarting must not fail the task, nor lose
its final event). With a ``claim`` callable (``AgentRuntime.claim``) the run
claims its task before it starts (``started``) and before each irreversible
step (``rds_contracts.pruner.FENCED_STEPS``); a refusal raises out of the
call, and the run must stop.
"""
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Protocol, TypeVar

from rds_contracts.agents import TaskLog, TaskStarted, TaskStep
from rds_contracts.base import MAX_LOG_CHUNK, TaskEvent, sanitize, sanitize_text
from rds_contracts.pruner import FENCED_STEPS, START

log = logging.getLogger(__name__)

#: Waits between attempts to publish an event (the last one repeats).
PUBLISH_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class Claim(Protocol):
    """``AgentRuntime.claim``: the fencing token, or raises when the claim is refused."""

    def __call__(self, task_id: str, run_id: str, step: str,
                 redelivered: bool = False) -> int: ...


#: Sends one event to the bus; raises when the broker did not take it.
Publish = Callable[[TaskEvent], object]
E = TypeVar("E", bound=TaskEvent)


class TaskReporter:
    def __init__(self, publish: Publish, task_id: str, agent: str, flush_interval: float = 0.25,
                 partial_line_wait: float = 1.0, claim: Claim | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._publish = publish
        self._claim = claim
        self._sleep = sleep
        self.token: int | None = None
        self.task_id = task_id
        self.agent = agent
        self.run_id = uuid.uuid4().hex
        self.flush_interval = flush_interval
        self.partial_line_wait = partial_line_wait
        self._partial_since: float | None = None
        self._seq = 0
        self._lock = threading.RLock()
        self._buffer: list[str] = []
        self._buffered = 0
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.log_tail: list[str] = []

    def _next(self, schema: type[E], **fields: Any) -> E:
        with self._lock:
            self._seq += 1
            event = schema(task_id=self.task_id, run_id=self.run_id, seq=self._seq,
                           **sanitize(fields))
            self._publish_until_confirmed(event)
            return event

    def _publish_until_confirmed(self, event: TaskEvent) -> None:
        attempt = 0
        while True:
            try:
                self._publish(event)
                return
            except Exception as exc:  # broker away: keep the event, try again
                delay = PUBLISH_BACKOFF[min(attempt, len(PUBLISH_BACKOFF) - 1)]
                log.warning("publishing %s of task %s failed (%s); retrying in %.1fs",
                            type(event).__name__, self.task_id, exc, delay)
                attempt += 1
                self._sleep(delay)

    def claim(self, step: str, redelivered: bool = False) -> int | None:
        """Claim the task for this run before ``step`` (raises if refused)."""
        if self._claim is None:
            return None
        self.token = self._claim(self.task_id, self.run_id, step, redelivered=redelivered)
        return self.token

    def started(self, redelivered: bool = False) -> TaskStarted:
        """Claim the task (if fenced), then announce the run."""
        self.claim(START, redelivered=redelivered)
        return self._next(TaskStarted, agent=self.agent, redelivered=redelivered)

    def event(self, schema: type[E], **fields: Any) -> E:
        """Publish a task event (after flushing any pending output)."""
        with self._lock:
            self.flush()
            return self._next(schema, **fields)

    def log(self, text: str) -> None:
        """Queue output for the log (any length; split into chunks as needed)."""
        if not text:
            return
        text = sanitize_text(text)
        with self._lock:
            self._remember_tail(text)
            while text:
                room = MAX_LOG_CHUNK - self._buffered
                piece, text = text[:room], text[room:]
                self._buffer.append(piece)
                self._buffered += len(piece)
                if self._buffered >= MAX_LOG_CHUNK:
                    self.flush()

    def line(self, text: str) -> None:
        self.log(text.rstrip("\n") + "\n")

    def flush(self, whole_lines: bool = False) -> None:
        """Send buffered output; with ``whole_lines``, keep a fresh partial line back."""
        with self._lock:
            if not self._buffer:
                return
            text = "".join(self._buffer)
            cut = len(text)
            if whole_lines and not text.endswith("\n"):
                now = time.monotonic()
                if self._partial_since is None:
                    self._partial_since = now
                if now - self._partial_since < self.partial_line_wait:
                    cut = text.rfind("\n") + 1
            if cut == 0:
                return
            self._next(TaskLog, text=text[:cut])  # on failure the buffer stays for a retry
            rest = text[cut:]
            self._buffer, self._buffered = ([rest], len(rest)) if rest else ([], 0)
            if not rest:
                self._partial_since = None

    def _remember_tail(self, text: str, keep: int = 40) -> None:
        self.log_tail.extend(text.splitlines()[-keep:])
        del self.log_tail[:-keep]

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_tail[-lines:])

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step: ``task_step`` started/finished events around the block.

        An irreversible step is claimed first (raises if the claim is refused).
        """
        if name in FENCED_STEPS:
            self.claim(name)
        self.event(TaskStep, step=name, state="started")
        try:
            yield
        finally:
            self.event(TaskStep, step=name, state="finished")

    def __enter__(self) -> "TaskReporter":
        self._stop.clear()
        self._flusher = threading.Thread(target=self._autoflush, daemon=True,
                                         name="flush-%s" % self.task_id[:8])
        self._flusher.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self.flush()

    def _autoflush(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush(whole_lines=True)
            except Exception:  # publishing failed: the next flush or the final event retries
                pass
