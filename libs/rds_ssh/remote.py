"""Run a long script on a server over SSH, streaming its output, killable.

The script is copied to ``<deploy_path>/.rds/<name>-<task>.sh`` and started
as ``setsid -w``: it becomes the leader of a new session and process group
whose id it prints first (and writes beside the script), so the whole group
can be killed over SSH later (``kill -- -<pgid>``) when the task is
cancelled, times out, or a redelivered command finds the previous run still
alive. A new session also means the script does not die with the SSH
connection: only an explicit kill stops it. So that such an orphan never
runs beside the next script, every run holds ``<deploy_path>/.rds/<name>.lock``
(``flock``, inherited by the script): a second run waits up to
``LOCK_WAIT`` seconds for it, then fails with exit status ``LOCKED``.

A script that ran to its end leaves its exit status in
``<name>-<task>.status``: a duplicated command of the same task finds it and
reports that status instead of running the script a second time (a killed
run leaves none, so a redelivered command after a crash does run again).
Status files older than ``KEEP_STATUS_DAYS`` are swept.

Output (stdout and stderr merged) is handed to ``output`` as it arrives.
"""
import codecs
import posixpath
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rds_ssh.connection import SshSession
from rds_ssh.errors import SshError

PGID_MARK = "RDS-PGID "
KILL_GRACE = 5.0
LOCK_WAIT = 10
#: Exit status of a run that could not take the lock.
LOCKED = 75
KEEP_STATUS_DAYS = 30


@dataclass(frozen=True)
class RemoteOutcome:
    exit_status: int | None
    cancelled: bool = False
    timed_out: bool = False
    #: The script itself started (False: e.g. the lock was never taken).
    started: bool = True
    #: This task's script had already run to its end before (a duplicated command).
    already_ran: bool = False


def script_paths(deploy_path: str, name: str, task_id: str) -> tuple[str, str, str]:
    """Where the script, its process group id and its exit status live on the server."""
    base = posixpath.join(deploy_path, ".rds", "%s-%s" % (name, task_id))
    return base + ".sh", base + ".pgid", base + ".status"


def kill_previous(session: SshSession, pgid_path: str) -> None:
    """Kill the process group a previous run of the same task left (redelivery)."""
    session.run("p=$(cat %s 2>/dev/null) && [ -n \"$p\" ] && kill -KILL -- -\"$p\" "
                "2>/dev/null; true" % shlex.quote(pgid_path))


def kill_remote_group(session: SshSession, pgid: int, is_done: Callable[[], bool],
                      grace: float = KILL_GRACE) -> None:
    """SIGTERM the remote process group, SIGKILL it after ``grace`` seconds."""
    session.run("kill -TERM -- -%d 2>/dev/null; true" % pgid)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not is_done():
        time.sleep(0.05)
    if not is_done():
        session.run("kill -KILL -- -%d 2>/dev/null; true" % pgid)


def run_long_script(session: SshSession, deploy_path: str, cwd: str, name: str,
                    task_id: str, body: str, env: Mapping[str, str],
                    output: Callable[[str], None], is_cancelled: Callable[[], bool],
                    timeout: float, poll: float = 0.2) -> RemoteOutcome:
    """Run ``body`` in ``cwd`` on the server; see the module docstring."""
    script_path, pgid_path, status_path = script_paths(session.abs(deploy_path), name, task_id)
    folder = posixpath.dirname(script_path)
    code, previous = session.run("cat %s 2>/dev/null" % shlex.quote(status_path))
    if code == 0 and previous.strip().lstrip("-").isdigit():
        return RemoteOutcome(exit_status=int(previous.strip()), started=False, already_ran=True)
    session.makedirs(folder)
    session.run("find %s -maxdepth 1 -name '*.status' -mtime +%d -delete 2>/dev/null; true"
                % (shlex.quote(folder), KEEP_STATUS_DAYS))
    with session.errors("cannot write %s" % script_path):
        with session.sftp.open(script_path, "w") as handle:
            handle.write(body.replace("\r\n", "\n").encode())
        session.sftp.chmod(script_path, 0o700)
    kill_previous(session, pgid_path)
    runner = shlex.quote(script_path) if body.startswith("#!") else (
        "/bin/bash -e %s" % shlex.quote(script_path))
    assignments = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items()))
    inner = ('echo "%s$$"; echo "$$" > %s; env %s %s </dev/null; s=$?; '
             'echo "$s" > %s.tmp && mv %s.tmp %s; exit "$s"') % (
        PGID_MARK, shlex.quote(pgid_path), assignments, runner, shlex.quote(status_path),
        shlex.quote(status_path), shlex.quote(status_path))
    lock = posixpath.join(folder, "%s.lock" % name)
    command = "cd %s && exec flock -w %d -E %d %s setsid -w /bin/bash -c %s 2>&1" % (
        shlex.quote(session.abs(cwd)), LOCK_WAIT, LOCKED, shlex.quote(lock),
        shlex.quote(inner))
    try:
        return _stream(session, command, output, is_cancelled, timeout, poll)
    finally:
        session.run("rm -f %s %s" % (shlex.quote(script_path), shlex.quote(pgid_path)))


def _stream(session: SshSession, command: str, output: Callable[[str], None],
            is_cancelled: Callable[[], bool], timeout: float, poll: float) -> RemoteOutcome:
    transport = session.transport()
    with session.errors("cannot start the script"):
        channel = transport.open_session(timeout=session.settings.connect_timeout)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pgid: int | None = None
    head = ""
    deadline = time.monotonic() + timeout
    cancelled = timed_out = False
    try:
        channel.set_combine_stderr(True)
        channel.exec_command(command)
        channel.shutdown_write()
        channel.settimeout(poll)
        while True:
            try:
                data = channel.recv(32768)
            except TimeoutError:
                data = None
            if data == b"":
                break
            if data:
                text = decoder.decode(data)
                if pgid is None:
                    head += text
                    if "\n" not in head:
                        continue
                    first, text = head.split("\n", 1)
                    if first.startswith(PGID_MARK):
                        pgid = int(first[len(PGID_MARK):])
                    else:
                        text = first + "\n" + text
                        pgid = 0
                if text:
                    output(text)
            if not (cancelled or timed_out):
                cancelled = is_cancelled()
                timed_out = not cancelled and time.monotonic() > deadline
                if (cancelled or timed_out) and pgid:
                    kill_remote_group(session, pgid, channel.exit_status_ready)
        rest = (head if pgid is None else "") + decoder.decode(b"", final=True)
        if rest:
            output(rest)
        channel.status_event.wait(session.settings.connect_timeout)
        status = channel.exit_status if channel.exit_status_ready() else None
        return RemoteOutcome(exit_status=status, cancelled=cancelled, timed_out=timed_out,
                             started=bool(pgid))
    except OSError as exc:
        raise SshError(session.label, "the script's connection broke: %s" % exc) from None
    finally:
        channel.close()
