"""SSH sessions to application servers, on paramiko.

Flow: :func:`connect` opens one authenticated connection to a server with the
single key of :class:`SshSettings` (no agent, no ``~/.ssh`` keys) and checks
the server's host key against rds's own known-hosts file:

* ``accept-new``: an unknown host key is appended to the file (under a lock,
  re-checked, so parallel first connections cannot race); a key that differs
  from the recorded one is refused.
* ``strict``: only recorded keys are accepted.

The returned :class:`SshSession` runs remote shell commands (stdout and
stderr combined, bounded by ``command_timeout``), streams a local file into a
remote command's stdin, and offers a lazily opened SFTP client. Every failure
is raised as :class:`~rds_ssh.errors.SshError` with a message a user can act
on. Callers quote every path with :func:`shlex.quote`.
"""
import contextlib
import errno
import os
import posixpath
import socket
import threading
import time
from dataclasses import dataclass

import paramiko

from rds_ssh.errors import SshError

HOST_KEY_POLICIES = ("accept-new", "strict")
CHUNK = 32 * 1024
_known_hosts_lock = threading.Lock()


@dataclass
class SshSettings:
    """How the agent connects: its key, its known-hosts file and its limits."""

    key_path: str
    known_hosts_path: str
    host_key_policy: str = "accept-new"
    connect_timeout: float = 10
    command_timeout: float = 600

    def __post_init__(self):
        if self.host_key_policy not in HOST_KEY_POLICIES:
            raise ValueError("host_key_policy must be one of %s (got %r)"
                             % (", ".join(HOST_KEY_POLICIES), self.host_key_policy))


class _HostKeyChanged(paramiko.SSHException):
    pass


class _HostKeyUnknown(paramiko.SSHException):
    pass


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Record unknown host keys (``accept-new``) or refuse them (``strict``)."""

    def __init__(self, settings):
        self.settings = settings

    def missing_host_key(self, client, hostname, key):
        if self.settings.host_key_policy == "strict":
            raise _HostKeyUnknown(hostname)
        path = self.settings.known_hosts_path
        with _known_hosts_lock:
            # another connection may have recorded this host meanwhile
            recorded = paramiko.HostKeys(path).lookup(hostname)
            if recorded:
                if recorded.get(key.get_name()) == key:
                    return
                raise _HostKeyChanged(hostname)
            with open(path, "a") as handle:
                handle.write("%s %s %s\n" % (hostname, key.get_name(), key.get_base64()))


def _ensure_known_hosts(path):
    with _known_hosts_lock:
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _connect_error(server, settings, exc):
    """Translate a connection failure into a human message."""
    where = "%s port %d" % (server.host, server.port)
    if isinstance(exc, _HostKeyChanged) or isinstance(exc, paramiko.BadHostKeyException):
        return ("host key CHANGED for %s: refusing to connect (possible man-in-the-middle); "
                "if the server was really reinstalled, remove its line from %s"
                % (where, settings.known_hosts_path))
    if isinstance(exc, _HostKeyUnknown):
        return ("unknown host key for %s and the host key policy is 'strict': add the "
                "server's key to %s first" % (where, settings.known_hosts_path))
    if isinstance(exc, paramiko.AuthenticationException):
        return ("authentication failed for user %r with key %s (is its public key in the "
                "user's authorized_keys?)" % (server.user, settings.key_path))
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(e, "errno", None) for e in exc.errors.values()}
        if codes <= {errno.ECONNREFUSED}:
            return "connection refused by %s (is sshd running there?)" % where
        return "cannot connect to %s: %s" % (where, exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused by %s (is sshd running there?)" % where
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "connection to %s timed out after %ss" % (where, settings.connect_timeout)
    if isinstance(exc, socket.gaierror):
        return "cannot resolve host %r: %s" % (server.host, exc.strerror or exc)
    if isinstance(exc, OSError):
        return "cannot connect to %s: %s" % (where, exc.strerror or exc)
    text = str(exc)
    if isinstance(exc, paramiko.SSHException) and (
            "banner" in text or "No existing session" in text or "timeout" in text.lower()):
        # paramiko reports a silent peer as "No existing session" when the banner
        # times out while the handshake is already waiting
        return ("no SSH handshake from %s within %ss (is an SSH server listening there?)"
                % (where, settings.connect_timeout))
    return "SSH connection to %s failed: %s" % (where, exc or type(exc).__name__)


def connect(server, settings):
    """Open an authenticated :class:`SshSession` to ``server`` or raise SshError."""
    try:
        key = paramiko.PKey.from_path(settings.key_path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise SshError(server.label, "cannot load the SSH key %s: %s"
                       % (settings.key_path, exc)) from None
    _ensure_known_hosts(settings.known_hosts_path)
    client = paramiko.SSHClient()
    try:
        client.get_host_keys().load(settings.known_hosts_path)
        client.set_missing_host_key_policy(_KnownHostsPolicy(settings))
        client.connect(server.host, port=server.port, username=server.user, pkey=key,
                       allow_agent=False, look_for_keys=False,
                       timeout=settings.connect_timeout,
                       banner_timeout=settings.connect_timeout,
                       auth_timeout=settings.connect_timeout,
                       channel_timeout=settings.connect_timeout)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        client.close()
        raise SshError(server.label, _connect_error(server, settings, exc)) from None
    return SshSession(server, settings, client)


class SshSession:
    """One open connection to one server; use it as a context manager."""

    def __init__(self, server, settings, client):
        self.server = server
        self.label = server.label
        self.settings = settings
        self._client = client
        self._sftp = None
        self._home = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close the SFTP client and the connection."""
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        self._client.close()

    @property
    def active(self):
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    @contextlib.contextmanager
    def errors(self, doing):
        """Turn SFTP/SSH/OS errors inside the block into ``SshError("<doing>: ...")``."""
        try:
            yield
        except SshError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            filename = getattr(exc, "filename", None)
            if filename and filename not in detail:
                detail = "%s: %s" % (filename, detail)
            raise SshError(self.label, "%s: %s" % (doing, detail)) from None

    @property
    def sftp(self):
        """The SFTP client of this connection (opened on first use)."""
        if self._sftp is None:
            with self.errors("cannot start SFTP"):
                self._sftp = self._client.open_sftp()
                self._sftp.get_channel().settimeout(self.settings.command_timeout)
        return self._sftp

    @property
    def home(self):
        """The login user's home directory (where relative paths resolve)."""
        if self._home is None:
            with self.errors("cannot resolve the home directory"):
                self._home = self.sftp.normalize(".")
        return self._home

    def abs(self, path):
        """``path`` made absolute against the login user's home."""
        return path if path.startswith("/") else posixpath.join(self.home, path)

    def lstat(self, path):
        """SFTP lstat of ``path``, or None if it does not exist."""
        with self.errors("cannot inspect %s" % path):
            try:
                return self.sftp.lstat(path)
            except FileNotFoundError:
                return None

    def makedirs(self, path):
        """``mkdir -p`` over SFTP (cheaper than a remote command)."""
        with self.errors("cannot create %s" % path):
            missing = []
            while path not in ("", "/"):
                attrs = self.lstat(path)
                if attrs is not None:
                    break
                missing.append(path)
                path = posixpath.dirname(path)
            for directory in reversed(missing):
                try:
                    self.sftp.mkdir(directory)
                except OSError:
                    if self.lstat(directory) is None:
                        raise

    def run(self, command, stdin=None):
        """Run a shell command; return ``(exit_status, output)`` (stderr merged)."""
        data = stdin.encode() if isinstance(stdin, str) else stdin

        def feed(channel, output):
            if data:
                channel.sendall(data)

        return self._exec(command, feed)

    def run_checked(self, command, stdin=None, doing=None):
        """Run a command; raise SshError with its output if it exits non-zero."""
        status, output = self.run(command, stdin=stdin)
        if status != 0:
            raise SshError(self.label, "%s failed (exit %s): %s" % (
                doing or "remote command %r" % command, status,
                _tail(output) or "no output"))
        return output

    def send_file(self, command, local_path):
        """Run a command with ``local_path`` streamed to its stdin; return (status, output)."""
        def feed(channel, output):
            with open(local_path, "rb") as handle:
                while True:
                    chunk = handle.read(CHUNK)
                    if not chunk:
                        return
                    try:
                        channel.sendall(chunk)
                    except OSError:
                        if channel.exit_status_ready() or channel.closed:
                            return  # the command stopped reading; its status says why
                        raise
                    while channel.recv_ready():
                        output += channel.recv(CHUNK)
                    time.sleep(0)

        return self._exec(command, feed)

    def _exec(self, command, feed):
        timeout = self.settings.command_timeout
        deadline = time.monotonic() + timeout
        output = bytearray()
        with self.errors("remote command %r" % _short(command)):
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise SshError(self.label, "the SSH connection is closed")
            channel = transport.open_session(timeout=self.settings.connect_timeout)
            try:
                channel.settimeout(timeout)
                channel.set_combine_stderr(True)
                channel.exec_command(command)
                feed(channel, output)
                channel.shutdown_write()
                while True:
                    channel.settimeout(max(deadline - time.monotonic(), 0.001))
                    data = channel.recv(CHUNK)
                    if not data:
                        break
                    output += data
                if not channel.status_event.wait(max(deadline - time.monotonic(), 0.001)):
                    raise TimeoutError()
                return channel.exit_status, output.decode("utf-8", "replace")
            except TimeoutError:
                raise SshError(self.label, "remote command %r timed out after %ss"
                               % (_short(command), timeout)) from None
            finally:
                channel.close()


def _short(command, limit=120):
    return command if len(command) <= limit else command[:limit] + "..."


def _tail(output, lines=10):
    return "\n".join(output.strip().splitlines()[-lines:])
