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

Speed (issue 13): the known-hosts file is parsed once per file version and
shared by every connection; AEAD ciphers (AES-GCM) are preferred when the
server offers them (paramiko's default AES-CTR + HMAC costs a third more CPU
per byte); bulk data is written in 1 MiB calls without a yield per chunk.
:func:`openssh_argv` builds the command line of the system ``ssh`` client
for the same server, pinned to the same known-hosts file with
``StrictHostKeyChecking=yes`` (the paramiko connection made first records or
checks the key under the configured policy) and no user ssh config; bulk
transfers use it when available, because OpenSSH moves bytes for a fraction
of paramiko's CPU (measured in ``make bench``).
"""
import contextlib
import errno
import os
import posixpath
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

import paramiko

from rds_core.scripts import ServerLike
from rds_ssh.errors import SshError

if TYPE_CHECKING:
    from paramiko.transport import _SocketLike

HOST_KEY_POLICIES = ("accept-new", "strict")
#: ``auto``: the system ``ssh`` client for bulk data when it is installed, else paramiko.
TRANSPORTS = ("auto", "openssh", "paramiko")
CHUNK = 1024 * 1024
RECV_CHUNK = 64 * 1024
#: AEAD first (one pass for cipher and MAC), then what paramiko offers anyway.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
OPENSSH_CIPHERS = ("aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,"
                   "aes256-gcm@openssh.com,aes128-ctr,aes256-ctr")
_known_hosts_lock = threading.Lock()
_known_hosts_cache: dict[str, tuple[tuple[int, int], paramiko.HostKeys]] = {}


class Server(ServerLike, Protocol):
    """What the SSH layer needs of a server (``rds_contracts.base.ServerSpec``): where to
    log in (``rds_core.scripts.ServerLike``) and how to name it."""

    @property
    def label(self) -> str: ...


@dataclass
class SshSettings:
    """How the agent connects: its key, its known-hosts file and its limits."""

    key_path: str
    known_hosts_path: str
    host_key_policy: str = "accept-new"
    connect_timeout: float = 10
    command_timeout: float = 600
    transport: str = "auto"
    #: where the system ssh client keeps its ControlMaster sockets; connections stay
    #: open ``control_persist`` seconds after their last use, so the next task (the
    #: activation after an upload, say) skips the handshake. None: beside the
    #: known-hosts file; "": no persistent connections.
    control_dir: str | None = None
    control_persist: int = 60

    def __post_init__(self) -> None:
        if self.host_key_policy not in HOST_KEY_POLICIES:
            raise ValueError("host_key_policy must be one of %s (got %r)"
                             % (", ".join(HOST_KEY_POLICIES), self.host_key_policy))
        if self.transport not in TRANSPORTS:
            raise ValueError("transport must be one of %s (got %r)"
                             % (", ".join(TRANSPORTS), self.transport))

    @property
    def persistent_control_dir(self) -> str | None:
        """The ControlMaster directory kept between tasks, or None (too long, disabled)."""
        directory = self.control_dir
        if directory is None:
            directory = os.path.join(os.path.dirname(os.path.abspath(self.known_hosts_path)),
                                     "ssh-control")
        if not directory or self.control_persist <= 0 or len(directory) > 60:
            return None  # a socket path (dir, 16 hex digits, ssh's 17-byte temp suffix) < 108
        return directory

    @property
    def openssh(self) -> str | None:
        """Path of the system ``ssh`` client to use for bulk data, or None for paramiko."""
        if self.transport == "paramiko":
            return None
        found = shutil.which("ssh")
        if found is None and self.transport == "openssh":
            raise ValueError("transport is 'openssh' but no ssh client is installed")
        return found


class _HostKeyChanged(paramiko.SSHException):
    pass


class _HostKeyUnknown(paramiko.SSHException):
    pass


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Record unknown host keys (``accept-new``) or refuse them (``strict``)."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
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
            _known_hosts_cache.pop(path, None)


def _known_hosts(path: str) -> paramiko.HostKeys:
    """The parsed known-hosts file, parsed again only when the file changed."""
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size)
    with _known_hosts_lock:
        cached = _known_hosts_cache.get(path)
        if cached is None or cached[0] != stamp:
            cached = _known_hosts_cache[path] = (stamp, paramiko.HostKeys(path))
        return cached[1]


def _host_key_name(server: Server) -> str:
    return server.host if server.port == 22 else "[%s]:%d" % (server.host, server.port)


def _aead_first(sock: "_SocketLike", **kwargs: Any) -> paramiko.Transport:
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    offered = tuple(options.ciphers)
    options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in offered) + tuple(
        c for c in offered if c not in PREFERRED_CIPHERS)
    return transport


def _ensure_known_hosts(path: str) -> None:
    with _known_hosts_lock:
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _connect_error(server: Server, settings: SshSettings, exc: BaseException) -> str:
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


def _load_key(path: str) -> paramiko.PKey:
    st = os.stat(path)
    stamp = (path, st.st_mtime_ns, st.st_size)
    with _known_hosts_lock:
        cached = _keys.get(stamp)
    if cached is None:
        cached = paramiko.PKey.from_path(path)
        with _known_hosts_lock:
            _keys.clear()
            _keys[stamp] = cached
    return cached


_keys: dict[tuple[str, int, int], paramiko.PKey] = {}


def connect(server: Server, settings: SshSettings) -> "SshSession":
    """Open an authenticated :class:`SshSession` to ``server`` or raise SshError."""
    try:
        key = _load_key(settings.key_path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise SshError(server.label, "cannot load the SSH key %s: %s"
                       % (settings.key_path, exc)) from None
    _ensure_known_hosts(settings.known_hosts_path)
    client = paramiko.SSHClient()
    try:
        name = _host_key_name(server)
        recorded = _known_hosts(settings.known_hosts_path).lookup(name)
        for key_type, host_key in (recorded or {}).items():
            client.get_host_keys().add(name, key_type, host_key)
        client.set_missing_host_key_policy(_KnownHostsPolicy(settings))
        client.connect(server.host, port=server.port, username=server.user, pkey=key,
                       allow_agent=False, look_for_keys=False,
                       timeout=settings.connect_timeout,
                       banner_timeout=settings.connect_timeout,
                       auth_timeout=settings.connect_timeout,
                       channel_timeout=settings.connect_timeout,
                       transport_factory=_aead_first)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        client.close()
        raise SshError(server.label, _connect_error(server, settings, exc)) from None
    return SshSession(server, settings, client)


class SshSession:
    """One open connection to one server; use it as a context manager."""

    def __init__(self, server: Server, settings: SshSettings,
                 client: paramiko.SSHClient) -> None:
        self.server = server
        self.label = server.label
        self.settings = settings
        self._client = client
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None

    def __enter__(self) -> "SshSession":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the SFTP client and the connection."""
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        self._client.close()

    @property
    def active(self) -> bool:
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
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

    def transport(self) -> paramiko.Transport:
        """The connection's open transport; SshError when it is closed."""
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(self.label, "the SSH connection is closed")
        return transport

    @property
    def sftp(self) -> paramiko.SFTPClient:
        """The SFTP client of this connection (opened on first use)."""
        if self._sftp is None:
            with self.errors("cannot start SFTP"):
                self._sftp = self._client.open_sftp()
                channel = self._sftp.get_channel()
                if channel is not None:
                    channel.settimeout(self.settings.command_timeout)
        return self._sftp

    @property
    def home(self) -> str:
        """The login user's home directory (where relative paths resolve)."""
        if self._home is None:
            with self.errors("cannot resolve the home directory"):
                self._home = self.sftp.normalize(".")
        return self._home

    def abs(self, path: str) -> str:
        """``path`` made absolute against the login user's home."""
        return path if path.startswith("/") else posixpath.join(self.home, path)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | None:
        """SFTP lstat of ``path``, or None if it does not exist."""
        with self.errors("cannot inspect %s" % path):
            try:
                return self.sftp.lstat(path)
            except FileNotFoundError:
                return None

    def makedirs(self, path: str) -> None:
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

    def run(self, command: str, stdin: str | bytes | None = None) -> tuple[int, str]:
        """Run a shell command; return ``(exit_status, output)`` (stderr merged)."""
        data = stdin.encode() if isinstance(stdin, str) else stdin

        def feed(channel: paramiko.Channel, output: bytearray) -> None:
            if data:
                channel.sendall(data)

        return self._exec(command, feed)

    def run_checked(self, command: str, stdin: str | bytes | None = None,
                    doing: str | None = None) -> str:
        """Run a command; raise SshError with its output if it exits non-zero."""
        status, output = self.run(command, stdin=stdin)
        if status != 0:
            raise SshError(self.label, "%s failed (exit %s): %s" % (
                doing or "remote command %r" % command, status,
                _tail(output) or "no output"))
        return output

    def send_stream(self, command: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Run a command with ``chunks`` written to its stdin; return (status, output)."""
        def feed(channel: paramiko.Channel, output: bytearray) -> None:
            for chunk in chunks:
                try:
                    channel.sendall(chunk)
                except OSError:
                    if channel.exit_status_ready() or channel.closed:
                        return  # the command stopped reading; its status says why
                    raise
                while channel.recv_ready():
                    output += channel.recv(RECV_CHUNK)

        return self._exec(command, feed)

    def send_file(self, command: str, local_path: str) -> tuple[int, str]:
        """Run a command with ``local_path`` streamed to its stdin; return (status, output)."""
        return self.send_stream(command, read_chunks(local_path))

    def _exec(self, command: str,
              feed: Callable[[paramiko.Channel, bytearray], None]) -> tuple[int, str]:
        timeout = self.settings.command_timeout
        deadline = time.monotonic() + timeout
        output = bytearray()
        with self.errors("remote command %r" % _short(command)):
            transport = self.transport()
            channel = transport.open_session(timeout=self.settings.connect_timeout)
            try:
                channel.settimeout(timeout)
                channel.set_combine_stderr(True)
                channel.exec_command(command)
                feed(channel, output)
                channel.shutdown_write()
                while True:
                    channel.settimeout(max(deadline - time.monotonic(), 0.001))
                    data = channel.recv(RECV_CHUNK)
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


def read_chunks(path: str, size: int = CHUNK) -> Iterator[bytes]:
    """The bytes of a local file in ``size`` pieces."""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(size)
            if not chunk:
                return
            yield chunk


def openssh_argv(ssh: str, server: Server, settings: SshSettings, control: str | None = None,
                 persist: int = 0) -> list[str]:
    """The system ``ssh`` client's command line for ``server`` (no remote command yet).

    No user or system ssh config (``-F /dev/null``), only rds's key, only
    rds's known-hosts file, the same host key policy as the paramiko side
    (``accept-new`` or ``yes``). ``control``: the ControlMaster socket to
    multiplex over (the first command to a server opens it; ``persist``
    seconds: it stays open in the background after the last use).
    """
    policy = "accept-new" if settings.host_key_policy == "accept-new" else "yes"
    argv = [ssh, "-F", "/dev/null", "-p", str(server.port), "-l", server.user,
            "-i", settings.key_path,
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=%s" % settings.known_hosts_path,
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=%s" % policy,
            "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no", "-o", "HashKnownHosts=no",
            "-o", "ConnectTimeout=%d" % max(1, int(settings.connect_timeout)),
            "-o", "ServerAliveInterval=15", "-o", "Compression=no",
            "-o", "Ciphers=%s" % OPENSSH_CIPHERS, "-o", "LogLevel=ERROR"]
    if control:
        argv += ["-o", "ControlPath=%s" % control, "-o", "ControlMaster=auto",
                 "-o", "ControlPersist=%s" % ("%ds" % persist if persist > 0 else "no")]
    return argv + [server.host]


def pipes(process: "subprocess.Popen[bytes]") -> tuple[IO[bytes], IO[bytes], IO[bytes]]:
    """stdin, stdout and stderr of a process started with all three as ``PIPE``."""
    if process.stdin is None or process.stdout is None or process.stderr is None:
        raise ValueError("process was not started with stdin, stdout and stderr pipes")
    return process.stdin, process.stdout, process.stderr


def _openssh_error(server: Server, settings: SshSettings, stderr: str) -> str:
    """Translate what the ssh client printed into the messages of :func:`_connect_error`."""
    where = "%s port %d" % (server.host, server.port)
    text = stderr.strip()
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification" in text:
        if settings.host_key_policy == "strict" and "CHANGED" not in text:
            return ("unknown host key for %s and the host key policy is 'strict': add the "
                    "server's key to %s first" % (where, settings.known_hosts_path))
        return ("host key CHANGED for %s: refusing to connect (possible man-in-the-middle); "
                "if the server was really reinstalled, remove its line from %s"
                % (where, settings.known_hosts_path))
    if "Permission denied" in text:
        return ("authentication failed for user %r with key %s (is its public key in the "
                "user's authorized_keys?)" % (server.user, settings.key_path))
    if "Connection refused" in text:
        return "connection refused by %s (is sshd running there?)" % where
    if "timed out" in text:
        return "connection to %s timed out after %ss" % (where, settings.connect_timeout)
    if "Could not resolve hostname" in text:
        return "cannot resolve host %r: %s" % (server.host, text.splitlines()[-1])
    return "SSH connection to %s failed: %s" % (where, _tail(text, 3) or "the connection closed")


class RemoteShell:
    """One remote ``sh`` over the system ssh client; commands run in it one at a time.

    The same interface as :class:`SshSession` for commands (``run``,
    ``run_checked``, ``label``, ``active``, ``close``) for a fraction of the
    CPU: the handshake and the crypto are OpenSSH's, and a command costs one
    round trip on the open connection instead of a new channel. Each command
    runs in a subshell with stdin from a here-document (or /dev/null); its
    end is found by a random marker line carrying the exit status. With
    ``control`` the connection is also a ControlMaster, so bulk transfers
    (``rsync -e``, ``tar | ssh``) to the same server skip the handshake.
    """

    def __init__(self, ssh: str, server: Server, settings: SshSettings,
                 control: str | None = None, persist: int = 0):
        self.server, self.label, self.settings = server, server.label, settings
        self.control = control
        _ensure_known_hosts(settings.known_hosts_path)
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            openssh_argv(ssh, server, settings, control=control, persist=persist)
            + ["exec /bin/sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        self._stdin, self._stdout, self._stderr = pipes(self._process)
        self.run_checked("true", doing="opening the connection")

    def __enter__(self) -> "RemoteShell":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def active(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """End the remote shell and the connection."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError):
                self._stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (self._stdout, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()

    def run(self, command: str, stdin: str | bytes | None = None) -> tuple[int, str]:
        """Run a shell command; return ``(exit_status, output)`` (stderr merged)."""
        marker = "rds-end-%s" % os.urandom(8).hex()
        data = stdin.decode() if isinstance(stdin, bytes) else stdin
        if data:
            if not data.endswith("\n"):
                data += "\n"
            delimiter = "RDS_STDIN_%s" % os.urandom(8).hex()
            script = "( %s\n) 2>&1 <<'%s'\n%s%s\n" % (command, delimiter, data, delimiter)
        else:
            script = "( %s\n) 2>&1 </dev/null\n" % command
        script += "printf '\\n%s %%d\\n' \"$?\"\n" % marker
        expected = marker.encode()
        with self._lock:
            if self._process.poll() is not None:
                raise SshError(self.label, self._closed_reason())
            timer = threading.Timer(self.settings.command_timeout, self._process.kill)
            timer.daemon = True
            timer.start()
            lines = []
            try:
                try:
                    self._stdin.write(script.encode())
                    self._stdin.flush()
                except OSError:
                    raise SshError(self.label, self._closed_reason()) from None
                while True:
                    line = self._stdout.readline()
                    if not line:
                        if not timer.is_alive() and self._process.poll() is not None:
                            raise SshError(self.label, "remote command %r timed out after %ss"
                                           % (_short(command), self.settings.command_timeout))
                        raise SshError(self.label, self._closed_reason())
                    if line.startswith(expected):
                        status = int(line.split()[1])
                        break
                    lines.append(line)
            finally:
                timer.cancel()
        output = b"".join(lines)
        if output.endswith(b"\n"):
            output = output[:-1]  # the newline printed before the marker
        return status, output.decode("utf-8", "replace")

    def run_checked(self, command: str, stdin: str | bytes | None = None,
                    doing: str | None = None) -> str:
        """Run a command; raise SshError with its output if it exits non-zero."""
        status, output = self.run(command, stdin=stdin)
        if status != 0:
            raise SshError(self.label, "%s failed (exit %s): %s" % (
                doing or "remote command %r" % _short(command), status,
                _tail(output) or "no output"))
        return output

    def _closed_reason(self) -> str:
        process = self._process
        if process.poll() is None:
            process.kill()
        process.wait()
        try:
            stderr = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            stderr = ""
        return _openssh_error(self.server, self.settings, stderr)


def _short(command: str, limit: int = 120) -> str:
    return command if len(command) <= limit else command[:limit] + "..."


def _tail(output: str, lines: int = 10) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])
