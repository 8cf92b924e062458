"""Run a project script and stream its output while it runs.

The script gets the documented environment (``rds_core.scripts``) on top of
a minimal base environment, runs in its own session (so its whole process
group can be killed), with stdin closed and stderr merged into stdout. A
script without a ``#!`` line runs under ``bash -e``. Any non-zero exit is a
failure (RDS counted "exit 1 with no output" as success; rds does not).

A script dies with its agent: it is started with ``PR_SET_PDEATHSIG``
(SIGKILL when the agent process dies, even by ``kill -9``), and its process
group is recorded in the task files, so what it started in the background is
killed by the host's orphan reaper (``rds_agent.run_records``). When a script
ends, whatever it left running in its process group is killed too.
"""
import codecs
import ctypes
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from rds_agent.run_records import TaskCancelled, TaskFiles

if TYPE_CHECKING:
    from rds_agent.settings import AgentSettings

BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND",
                 "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "no_proxy")
KILL_GRACE = 5.0


class ScriptFailed(Exception):
    def __init__(self, name: str, exit_code: int | None, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.exit_code = exit_code
        self.message = message


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with(parent_pid: int) -> Callable[[], None]:
    """``preexec_fn`` of a script: SIGKILL it when ``parent_pid`` dies."""
    def preexec() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the agent died before prctl took effect
            os._exit(137)
    return preexec


def _kill_leftovers(pgid: int) -> None:
    """Whatever the script left running in its process group dies with the script."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def base_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in BASE_ENV_KEYS if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    return env


def kill_group(pgid: int, grace: float = KILL_GRACE,
               is_alive: Callable[[], bool] | None = None) -> None:
    """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    stop = threading.Event()
    def group_alive() -> bool:
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False

    alive = is_alive if is_alive is not None else group_alive
    waited = 0.0
    while waited < grace and alive():
        stop.wait(0.05)
        waited += 0.05
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_script(name: str, body: str, env: Mapping[str, str], cwd: str,
               output: Callable[[str], None], scratch_dir: str,
               task_files: TaskFiles | None = None, task_id: str | None = None,
               timeout: float | None = None) -> int:
    """Run ``body``; call ``output(text)`` with its output as it arrives.

    Raises ``ScriptFailed`` on a non-zero exit or a timeout, ``TaskCancelled``
    when the killer stopped it.
    """
    os.makedirs(scratch_dir, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="%s-" % name, suffix=".sh", dir=scratch_dir)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(body.replace("\r\n", "\n"))
        os.chmod(path, 0o700)
        argv = [path] if body.startswith("#!") else ["/bin/bash", "-e", path]
        full_env = base_env()
        full_env.update(env)
        run = (task_files, task_id) if task_files is not None and task_id is not None else None
        return _run(name, argv, full_env, cwd, output, run, timeout)
    finally:
        os.unlink(path)


def _run(name: str, argv: list[str], env: dict[str, str], cwd: str,
         output: Callable[[str], None], run: tuple[TaskFiles, str] | None,
         timeout: float | None) -> int:
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=_die_with(os.getpid()))
    stdout = process.stdout
    assert stdout is not None  # stdout=PIPE
    timed_out = threading.Event()
    timer = None
    try:
        if run is not None:
            task_files, task_id = run
            task_files.register(task_id, process.pid)
            if task_files.is_cancelled(task_id):
                kill_group(process.pid, is_alive=lambda: process.poll() is None)
        if timeout:
            def on_timeout() -> None:
                timed_out.set()
                kill_group(process.pid, is_alive=lambda: process.poll() is None)
            timer = threading.Timer(timeout, on_timeout)
            timer.daemon = True
            timer.start()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            output(decoder.decode(chunk))
        output(decoder.decode(b"", final=True))
        exit_code = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        stdout.close()
        if process.poll() is None:
            kill_group(process.pid, is_alive=lambda: process.poll() is None)
            process.wait()
        _kill_leftovers(process.pid)
        if run is not None:
            run[0].register(run[1], None)
    if run is not None and run[0].is_cancelled(run[1]):
        raise TaskCancelled()
    if timed_out.is_set():
        raise ScriptFailed(name, exit_code, "%s script timed out after %ss" % (name, timeout))
    if exit_code != 0:
        how = ("killed by signal %d" % -exit_code) if exit_code < 0 else (
            "exited with status %d" % exit_code)
        raise ScriptFailed(name, exit_code, "%s script %s" % (name, how))
    return exit_code


def run_task_script(name: str, body: str, env: Mapping[str, str], cwd: str,
                    output: Callable[[str], None], settings: "AgentSettings",
                    task_files: TaskFiles | None, task_id: str) -> int:
    """:func:`run_script` for a task, as every agent runs one: scratch files in the
    agent's ``scripts`` directory, the agent's script timeout."""
    return run_script(name, body, env, cwd, output, settings.path("scripts"),
                      task_files=task_files, task_id=task_id, timeout=settings.script_timeout)
