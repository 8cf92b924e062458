"""Real OpenSSH "app servers" on loopback ports, for tests and the demo.

Each app server is a private ``sshd`` (Debian's openssh-server) listening on
127.0.0.1:<port> with its own config and host key, accepting one login user
whose home directory is that server's filesystem root. Two servers with two
users on one machine therefore hold two separate copies of every deploy.

Needs root (sshd and useradd). Run as a command for the demo::

    python -m rds_testing.appservers start VAR_DIR PORT:USER [PORT:USER ...]
    python -m rds_testing.appservers stop VAR_DIR
    python -m rds_testing.appservers status VAR_DIR
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

SSHD = "/usr/sbin/sshd"
SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
"""


def ensure_user(name: str) -> str:
    """Create a login user with a home directory (idempotent); return its home."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        entry = pwd.getpwnam(name)
    # an account with a locked password ("!") is refused by sshd without PAM
    subprocess.run(["usermod", "-p", "*", name], check=True)
    return entry.pw_dir


def ensure_keypair(path: str) -> str:
    """An ed25519 key pair at ``path`` / ``path.pub``; returns the private key path."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rds",
                        "-f", path], check=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


class AppServer:
    """One sshd on 127.0.0.1:``port`` for login ``user``, state in ``workdir``."""

    def __init__(self, workdir: str, port: int, user: str, client_public_key: str) -> None:
        self.workdir = os.path.abspath(workdir)
        self.port = port
        self.user = user
        self.client_public_key = client_public_key
        self.home: str | None = None

    @property
    def pid_file(self) -> str:
        return os.path.join(self.workdir, "sshd.pid")

    def start(self) -> "AppServer":
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)
        os.chmod("/run/sshd", 0o755)
        self.home = ensure_user(self.user)
        host_key = os.path.join(self.workdir, "host_ed25519")
        if not os.path.exists(host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key],
                           check=True)
        authorized_keys = os.path.join(self.workdir, "authorized_keys")
        with open(self.client_public_key) as src, open(authorized_keys, "w") as dst:
            dst.write(src.read())
        config = os.path.join(self.workdir, "sshd_config")
        with open(config, "w") as handle:
            handle.write(SSHD_CONFIG.format(port=self.port, host_key=host_key,
                                            pid_file=self.pid_file, user=self.user,
                                            authorized_keys=authorized_keys))
        self.stop()
        subprocess.run([SSHD, "-f", config, "-E", os.path.join(self.workdir, "sshd.log")],
                       check=True)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        try:
            with open(self.pid_file) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass

    def path(self, *parts: str) -> str:
        """A path inside this server's filesystem root (the user's home)."""
        return os.path.join(self.home or pwd.getpwnam(self.user).pw_dir, *parts)

    def reset_home(self, *relative: str) -> None:
        """Remove ``relative`` paths under the home directory (test isolation)."""
        for rel in relative:
            shutil.rmtree(self.path(rel), ignore_errors=True)


@dataclass(frozen=True)
class AppServerStatus:
    user: str
    port: int | None
    pid: int | None
    running: bool


def status(var_dir: str) -> list[AppServerStatus]:
    """Every app server under ``var_dir``: user, port, pid and whether it runs."""
    base = os.path.join(var_dir, "appservers")
    servers: list[AppServerStatus] = []
    for user in sorted(os.listdir(base)) if os.path.isdir(base) else ():
        workdir = os.path.join(base, user)
        port = pid = None
        try:
            with open(os.path.join(workdir, "sshd_config")) as handle:
                port = int(handle.readline().split()[1])
            with open(os.path.join(workdir, "sshd.pid")) as handle:
                pid = int(handle.read().strip())
            os.kill(pid, 0)
            running = True
        except (OSError, ValueError, IndexError):
            running = False
        servers.append(AppServerStatus(user, port, pid if running else None, running))
    return servers


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("start", "stop", "status"):
        print(__doc__)
        return 2
    action, var_dir = argv[0], argv[1]
    if action == "status":
        servers = status(var_dir)
        if not servers:
            print("no app servers under %s (make demo starts them)" % var_dir)
        for server in servers:
            print("app server %s@127.0.0.1:%s  %s" % (
                server.user, server.port,
                "running (pid %s)" % server.pid if server.running else "stopped"))
        return 0 if servers and all(s.running for s in servers) else 3
    key = ensure_keypair(os.path.join(var_dir, "ssh", "id_ed25519"))
    if action == "start":
        for spec in argv[2:]:
            port, user = spec.split(":")
            AppServer(os.path.join(var_dir, "appservers", user), int(port), user,
                      key + ".pub").start()
            print("app server %s@127.0.0.1:%s is up" % (user, port))
    else:
        base = os.path.join(var_dir, "appservers")
        for user in sorted(os.listdir(base)) if os.path.isdir(base) else ():
            AppServer(os.path.join(base, user), 0, user, key + ".pub").stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
