"""Report a task's progress as contract events.

One ``TaskReporter`` per run of a task: it numbers events (``seq``), batches
output into ``task_log`` chunks (flushed every ``flush_interval`` seconds by
a background thread, when a chunk is full, and before any other event so
the log always precedes the status it explains), and times steps.
"""
import threading
import uuid
from contextlib import contextmanager

from rds_contracts.agents import TaskLog, TaskStarted, TaskStep
from rds_contracts.base import MAX_LOG_CHUNK


class TaskReporter:
    def __init__(self, publish, task_id, agent, flush_interval=0.25):
        self._publish = publish
        self.task_id = task_id
        self.agent = agent
        self.run_id = uuid.uuid4().hex
        self.flush_interval = flush_interval
        self._seq = 0
        self._lock = threading.RLock()
        self._buffer = []
        self._buffered = 0
        self._flusher = None
        self._stop = threading.Event()
        self.log_tail = []

    def _next(self, schema, **fields):
        with self._lock:
            self._seq += 1
            event = schema(task_id=self.task_id, run_id=self.run_id, seq=self._seq, **fields)
            self._publish(event)
            return event

    def started(self, redelivered=False):
        return self._next(TaskStarted, agent=self.agent, redelivered=redelivered)

    def event(self, schema, **fields):
        """Publish a task event (after flushing any pending output)."""
        with self._lock:
            self.flush()
            return self._next(schema, **fields)

    def log(self, text):
        """Queue output for the log (any length; split into chunks as needed)."""
        if not text:
            return
        with self._lock:
            self._remember_tail(text)
            while text:
                room = MAX_LOG_CHUNK - self._buffered
                piece, text = text[:room], text[room:]
                self._buffer.append(piece)
                self._buffered += len(piece)
                if self._buffered >= MAX_LOG_CHUNK:
                    self.flush()

    def line(self, text):
        self.log(text.rstrip("\n") + "\n")

    def flush(self):
        with self._lock:
            if not self._buffer:
                return
            text = "".join(self._buffer)
            self._next(TaskLog, text=text)  # on failure the buffer stays for a retry
            self._buffer, self._buffered = [], 0

    def _remember_tail(self, text, keep=40):
        self.log_tail.extend(text.splitlines()[-keep:])
        del self.log_tail[:-keep]

    def tail(self, lines=20):
        return "\n".join(self.log_tail[-lines:])

    @contextmanager
    def step(self, name):
        """Time a step: ``task_step`` started/finished events around the block."""
        self.event(TaskStep, step=name, state="started")
        try:
            yield
        finally:
            self.event(TaskStep, step=name, state="finished")

    def __enter__(self):
        self._stop.clear()
        self._flusher = threading.Thread(target=self._autoflush, daemon=True,
                                         name="flush-%s" % self.task_id[:8])
        self._flusher.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.flush()

    def _autoflush(self):
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # publishing failed: the next flush or the final event retries
                pass
