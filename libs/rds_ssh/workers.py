"""One shape for per-server work, shared by upload and activation.

Both jobs do the same thing on N servers: open (or reuse) one SSH session
per server, do a few steps there, and turn any failure into a result that
names the server instead of an exception that stops the others. This module
holds the pieces they share:

* :class:`Sessions`: one open :class:`~rds_ssh.connection.SshSession` per
  server for the length of a task (readiness check, switch, read-back and a
  switch back reuse the same connection), closed together at the end;
* :func:`fan_out`: run a function for every server in parallel, in order,
  by default all at once (one wave), bounded by :data:`MAX_PARALLEL`;
* :func:`error_text`: the message of a failure, without repeating the label;
* :func:`read_link_target`: what ``current`` points to (refusing anything that
  is not a symlink);
* :func:`log_to_logger`: the default ``log`` callback.

Threads are green threads under eventlet's monkey-patching, so a wave of 200
servers costs 200 cheap greenlets, not 200 OS threads.
"""
import contextlib
import logging
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from rds_ssh.connection import Server, SshSession, SshSettings, connect
from rds_ssh.errors import SshError

logger = logging.getLogger("rds_ssh")
MAX_PARALLEL = 256
T = TypeVar("T")
R = TypeVar("R")
Log = Callable[[str], None]


def log_to_logger(text: str) -> None:
    """The default ``log`` of the SSH layer: the ``rds_ssh`` logger."""
    logger.info("%s", text)


def fan_out(fn: Callable[[T], R], items: Iterable[T], concurrency: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, run in parallel; ``None``: all at once."""
    items = list(items)
    if not items:
        return []
    width = len(items) if concurrency is None else concurrency
    width = max(1, min(width, len(items), MAX_PARALLEL))
    if width == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(fn, items))


def error_text(server: Server, exc: BaseException) -> str:
    """What went wrong on ``server``, without its label if the error carries it."""
    if isinstance(exc, SshError) and exc.server_label == server.label:
        return exc.message
    return str(exc) or type(exc).__name__


def read_link_target(session: SshSession, link: str) -> str | None:
    """Target of the symlink ``link``, None if missing; refuse anything else."""
    attrs = session.lstat(link)
    if attrs is None:
        return None
    if not stat.S_ISLNK(attrs.st_mode):
        raise SshError(session.label, "%s exists but is not a symlink (a real directory or "
                       "file?): refusing to replace it" % link)
    with session.errors("cannot read %s" % link):
        return session.sftp.readlink(link)


class Sessions:
    """Open sessions of one task, one per server, reused by every step; a context manager."""

    def __init__(self, settings: SshSettings):
        self.settings = settings
        self._open: dict[tuple[str, int, str], SshSession] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "Sessions":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, server: Server) -> SshSession:
        """The open session to ``server`` (connecting if there is none or it dropped)."""
        key = (server.host, server.port, server.user)
        with self._lock:
            session = self._open.get(key)
        if session is not None and session.active:
            return session
        session = connect(server, self.settings)
        with self._lock:
            stale = self._open.get(key)
            self._open[key] = session
        if stale is not None:
            stale.close()
        return session

    def close(self) -> None:
        """Close every session."""
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:
            session.close()


@contextlib.contextmanager
def sessions_for(sessions: Sessions | None, settings: SshSettings) -> Iterator[Sessions]:
    """The caller's sessions (left open), or new ones closed at the end of the block."""
    if sessions is not None:
        yield sessions
        return
    with Sessions(settings) as own:
        yield own
