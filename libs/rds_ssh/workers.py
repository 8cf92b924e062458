"""One shape for per-server work, shared by upload, activation and removal.

Both jobs do the same thing on N servers: open (or reuse) one SSH session
per server, do a few steps there, and turn any failure into a result that
names the server instead of an exception that stops the others. This module
holds the pieces they share:

* :class:`Sessions`: one open connection per server for the length of a task
  (readiness check, switch, read-back and a switch back reuse it), closed
  together at the end: a :class:`~rds_ssh.connection.RemoteShell` over the
  system ssh client when it is installed (a ControlMaster that bulk
  transfers reuse too), else a paramiko :class:`~rds_ssh.connection.SshSession`.
  Both run shell commands, so every step is written once, as a command;
* :func:`fan_out`: run a function for every server in parallel, in order,
  by default all at once (one wave), bounded by :data:`MAX_PARALLEL`;
* :func:`error_text`: the message of a failure, without repeating the label;
* :data:`CURRENT_PROBE` / :func:`parse_current`: what ``current`` points to
  (refusing anything that is not a symlink), as part of any command;
* :func:`log_to_logger`: the default ``log`` callback.

Threads are green threads under eventlet's monkey-patching, so a wave of 200
servers costs 200 cheap greenlets, not 200 OS threads.
"""
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from rds_ssh.connection import RemoteShell, Server, SshSettings, connect
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


#: Shell snippet printing what ``current`` (in the working directory) is.
CURRENT_PROBE = ("if [ -L current ]; then printf 'rds:current %s\\n' \"$(readlink current)\"; "
                 "elif [ -e current ]; then echo rds:not-a-link; else echo rds:no-current; fi")


class Remote(Protocol):
    """An open connection that runs shell commands (RemoteShell or SshSession)."""

    label: str

    @property
    def active(self) -> bool: ...

    def run(self, command: str, stdin: str | bytes | None = None) -> tuple[int, str]: ...

    def run_checked(self, command: str, stdin: str | bytes | None = None,
                    doing: str | None = None) -> str: ...

    def close(self) -> None: ...


def parse_current(label: str, link: str, output: str) -> str | None:
    """The target :data:`CURRENT_PROBE` printed (None: no ``current``); refuse a non-link."""
    for line in output.splitlines():
        if line.startswith("rds:current "):
            return line[len("rds:current "):]
        if line == "rds:no-current":
            return None
        if line == "rds:not-a-link":
            raise SshError(label, "%s exists but is not a symlink (a real directory or "
                           "file?): refusing to replace it" % link)
    raise SshError(label, "cannot read %s: %s" % (link, output.strip()[-500:] or "no output"))


class Sessions:
    """Open sessions of one task, one per server, reused by every step; a context manager."""

    def __init__(self, settings: SshSettings):
        self.settings = settings
        self._open: dict[tuple[str, int, str], Remote] = {}
        self._lock = threading.Lock()
        self._control_dir: str | None = None

    def __enter__(self) -> "Sessions":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, server: Server) -> Remote:
        """The open connection to ``server`` (connecting if there is none or it dropped)."""
        key = (server.host, server.port, server.user)
        with self._lock:
            session = self._open.get(key)
        if session is not None and session.active:
            return session
        ssh = self.settings.openssh
        if ssh is None:
            session = connect(server, self.settings)
        else:
            session = _IDLE.take(self.settings, key) if self.persist else None
            if session is None:
                session = RemoteShell(ssh, server, self.settings,
                                      control=self.control_path(server), persist=self.persist)
        with self._lock:
            stale = self._open.get(key)
            self._open[key] = session
        if stale is not None:
            stale.close()
        return session

    @property
    def persist(self) -> int:
        """Seconds a ControlMaster connection outlives its last use (0: this task only)."""
        return self.settings.control_persist if self.settings.persistent_control_dir else 0

    def control_path(self, server: Server) -> str | None:
        """The ControlMaster socket of ``server`` (None without the system ssh client)."""
        if self.settings.openssh is None:
            return None
        persistent = self.settings.persistent_control_dir
        with self._lock:
            if persistent is not None:
                os.makedirs(persistent, mode=0o700, exist_ok=True)
                directory = persistent
            else:
                if self._control_dir is None:  # short: a socket path must fit in 108 bytes
                    self._control_dir = tempfile.mkdtemp(prefix="rds-ssh-")
                directory = self._control_dir
        name = hashlib.sha256(("%s@%s:%d" % (server.user, server.host, server.port))
                              .encode()).hexdigest()[:16]
        return os.path.join(directory, name)

    def close(self) -> None:
        """Close every session."""
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
            control_dir, self._control_dir = self._control_dir, None
        for session in sessions:
            if self.persist and isinstance(session, RemoteShell) and session.active:
                _IDLE.put(self.settings, session, self.persist)
            else:
                session.close()
        if control_dir is not None:
            shutil.rmtree(control_dir, ignore_errors=True)


#: Which idle shells can serve a connection: the settings it needs and the server.
IdleKey = tuple[str, str, str, float, float, str, int, str]


class _IdleShells:
    """Remote shells of finished tasks, kept ``control_persist`` seconds for the next task.

    The activation right after an upload (or the next activation) then costs
    one round trip per server instead of a handshake and a process per server.
    A shell is checked with one command before it is handed out again; one
    that died is closed and replaced by a new connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[IdleKey, list[tuple[float, RemoteShell]]] = {}

    @staticmethod
    def _key(settings: SshSettings, server_key: tuple[str, int, str]) -> IdleKey:
        return (settings.key_path, settings.known_hosts_path, settings.host_key_policy,
                settings.connect_timeout, settings.command_timeout, *server_key)

    def take(self, settings: SshSettings, server_key: tuple[str, int, str]) -> RemoteShell | None:
        while True:
            with self._lock:
                entries = self._idle.get(self._key(settings, server_key))
                if not entries:
                    return None
                _, shell = entries.pop()
            try:
                if shell.active and shell.run("true")[0] == 0:
                    return shell
            except SshError:
                pass
            shell.close()

    def put(self, settings: SshSettings, shell: RemoteShell, seconds: int) -> None:
        server_key = (shell.server.host, shell.server.port, shell.server.user)
        with self._lock:
            self._idle.setdefault(self._key(settings, server_key), []).append(
                (time.monotonic() + seconds, shell))
        timer = threading.Timer(seconds + 1, self.expire)
        timer.daemon = True
        timer.start()

    def expire(self) -> None:
        """Close the shells idle for longer than they may be kept."""
        now, expired = time.monotonic(), []
        with self._lock:
            for key, entries in list(self._idle.items()):
                expired += [shell for until, shell in entries if until <= now]
                entries[:] = [(until, shell) for until, shell in entries if until > now]
                if not entries:
                    del self._idle[key]
        for shell in expired:
            shell.close()


    def close_all(self) -> None:
        """Close every idle shell (at shutdown, or in tests)."""
        with self._lock:
            shells = [shell for entries in self._idle.values() for _, shell in entries]
            self._idle.clear()
        for shell in shells:
            shell.close()


_IDLE = _IdleShells()
close_idle_connections = _IDLE.close_all


@contextlib.contextmanager
def sessions_for(sessions: Sessions | None, settings: SshSettings) -> Iterator[Sessions]:
    """The caller's sessions (left open), or new ones closed at the end of the block."""
    if sessions is not None:
        yield sessions
        return
    with Sessions(settings) as own:
        yield own
