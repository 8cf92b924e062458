"""Run every rds service as a local process (the README's way, and the e2e tests').

    python -m rds_testing.localrun start   [--var-dir var] [--port 8000]
    python -m rds_testing.localrun restart [--var-dir var] [--port 8000]
    python -m rds_testing.localrun stop    [--var-dir var]
    python -m rds_testing.localrun status  [--var-dir var]

Each service runs exactly as documented for production: ``rds-service
<name>`` for the seven nameko services and gunicorn for web (``-c
python:rds_web.gunicorn_conf``: ``gthread`` workers sized for the live
streams), configured through ``RDS_*`` environment variables. Logs go to
``<var>/log/<service>.log``, pids to ``<var>/run/<service>.pid``, the web
port to ``<var>/run/web.port``. ``start`` leaves a running service alone
and says so; ``restart`` (what ``make demo``/``make up`` use) stops the
running ones first so new code is picked up. ``status`` exits 3 unless
every service runs.
"""
import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAMEKO_SERVICES = ("ingest", "pruner", "builder", "activator", "killer", "migrator", "gc")
AGENT_SERVICES = ("builder", "activator", "killer", "migrator", "gc")
ALL_SERVICES = ("web",) + NAMEKO_SERVICES


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def secret_file(var_dir: str, name: str) -> str:
    """The secret in ``<var_dir>/<name>``, created (0600, random) if missing."""
    path = os.path.join(var_dir, name)
    if not os.path.exists(path):
        os.makedirs(var_dir, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    os.chmod(path, 0o600)
    with open(path) as handle:
        return handle.read().strip()


def service_env(var_dir: str, database_url: str, amqp_uri: str,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every local service gets."""
    var_dir = os.path.abspath(var_dir)
    secret = secret_file(var_dir, "secret_key")
    env = dict(os.environ)
    env.update({
        "RDS_DATABASE_URL": database_url,
        "RDS_AMQP_URI": amqp_uri,
        "RDS_SECRET_KEY": secret,
        "RDS_BUS_COMMAND_KEY": secret_file(var_dir, "bus-command-key"),
        "RDS_BUS_EVENT_KEY": secret_file(var_dir, "bus-event-key"),
        "RDS_AGENT_WORK_DIR": os.path.join(var_dir, "agent"),
        "RDS_SSH_KEY_PATH": os.path.join(var_dir, "ssh", "id_ed25519"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def command_for(service: str, port: int, web_workers: int | None = None) -> list[str]:
    """The command line of ``service`` (web: gunicorn configured by the settings)."""
    if service == "web":
        workers = ["-w", str(web_workers)] if web_workers is not None else []
        return [_bin("gunicorn"), "-c", "python:rds_web.gunicorn_conf", *workers,
                "-b", "127.0.0.1:%d" % port, "rds_web.wsgi:app"]
    return [_bin("rds-service"), service]


def start(var_dir: str, env: Mapping[str, str], port: int = 8000,
          services: Sequence[str] = ALL_SERVICES) -> dict[str, str]:
    """Start the services not running yet; returns ``{service: "started"|"kept"}``."""
    for sub in ("log", "run"):
        os.makedirs(os.path.join(var_dir, sub), exist_ok=True)
    outcome = {}
    for service in services:
        pid_file = os.path.join(var_dir, "run", service + ".pid")
        if _alive(pid_file):
            outcome[service] = "kept"
            continue
        with open(os.path.join(var_dir, "log", service + ".log"), "ab") as log:
            process = subprocess.Popen(command_for(service, port), cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        with open(pid_file, "w") as handle:
            handle.write(str(process.pid))
        if service == "web":
            with open(os.path.join(var_dir, "run", "web.port"), "w") as handle:
                handle.write(str(port))
        outcome[service] = "started"
    return outcome


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(url: str, token: str, timeout: float = 60, var_dir: str | None = None) -> None:
    """Wait until the API answers and every agent service sent a heartbeat.

    With ``var_dir``, a service process that died is reported at once, with
    the end of its log.
    """
    deadline = time.monotonic() + timeout
    headers = {"Authorization": "Bearer " + token}
    missing = set(AGENT_SERVICES)
    while True:
        try:
            response = requests.get(url + "/api/v1/agents", headers=headers, timeout=5)
            if response.status_code == 200:
                online = {a["service"] for a in response.json()["agents"] if a["online"]}
                missing = set(AGENT_SERVICES) - online
                if not missing:
                    return
        except requests.RequestException:
            pass
        if var_dir is not None:
            dead = [name for name, alive in status(var_dir).items() if not alive]
            if dead:
                log = os.path.join(var_dir, "log", dead[0] + ".log")
                raise RuntimeError("service %s exited; end of %s:\n%s"
                                   % (", ".join(dead), log, _tail(log)))
        if time.monotonic() > deadline:
            raise RuntimeError("services not ready after %ss (no heartbeat from: %s); see "
                               "the logs in var/log" % (timeout, ", ".join(sorted(missing))))
        time.sleep(0.2)


def _pid(pid_file: str) -> int | None:
    try:
        with open(pid_file) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid_file: str) -> bool:
    pid = _pid(pid_file)
    return pid is not None and not _gone(pid)


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (reaping it if it is our own child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return True
    except ChildProcessError:  # not our child: someone else reaps it
        pass
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return True


def stop(var_dir: str, services: Sequence[str] = ALL_SERVICES, timeout: float = 20) -> None:
    pids = {}
    for service in services:
        pid = _pid(os.path.join(var_dir, "run", service + ".pid"))
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
                pids[service] = pid
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for service, pid in pids.items():
        while time.monotonic() < deadline:
            if _gone(pid):
                break
            time.sleep(0.05)
        else:
            print("%s did not stop within %ss; killing it" % (service, timeout))
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.unlink(os.path.join(var_dir, "run", service + ".pid"))
        except FileNotFoundError:
            pass


def status(var_dir: str) -> dict[str, bool]:
    return {service: _alive(os.path.join(var_dir, "run", service + ".pid"))
            for service in ALL_SERVICES}


def describe(var_dir: str) -> list[str]:
    """One line per service: state, pid, log (and the web's port)."""
    lines = []
    for service, alive in status(var_dir).items():
        pid = _pid(os.path.join(var_dir, "run", service + ".pid"))
        extra = ""
        if service == "web":
            try:
                with open(os.path.join(var_dir, "run", "web.port")) as handle:
                    extra = "  http://127.0.0.1:%s/" % handle.read().strip()
            except OSError:
                pass
        lines.append("%-10s %-8s %-12s %s%s" % (
            service, "running" if alive else "stopped",
            "pid %s" % pid if alive else "-",
            os.path.join(var_dir, "log", service + ".log"), extra if alive else ""))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "restart", "stop", "status"])
    parser.add_argument("--var-dir", default="var")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    var_dir = os.path.abspath(args.var_dir)
    if args.action in ("start", "restart"):
        from rds_settings import get_settings

        settings = get_settings()
        env = service_env(var_dir, settings.database_url, settings.amqp_uri)
        if args.action == "restart":
            running = [name for name, alive in status(var_dir).items() if alive]
            stop(var_dir, services=running)
        outcome = start(var_dir, env, port=args.port)
        for service, what in outcome.items():
            if what == "kept":
                print("%-10s already running: kept (old code); `make up` restarts it" % service)
        started = [name for name, what in outcome.items() if what == "started"]
        if started:
            print("%s %s; logs in %s/log" % ("restarted" if args.action == "restart"
                                             else "started", ", ".join(started), var_dir))
    elif args.action == "stop":
        stop(var_dir)
        print("stopped")
    else:
        print("\n".join(describe(var_dir)))
        return 0 if all(status(var_dir).values()) else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
