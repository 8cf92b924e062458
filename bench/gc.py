"""How long does gc take to remove 30 releases from 2 servers?

Starts two real sshd app servers on loopback (as the tests do; needs root),
fills ``releases/`` on each with 30 releases (``--files`` files each, in a few
directories), then times, each on a fresh copy:

* ``gc, one task at a time``: 30 removal tasks run by the gc agent's own job
  (``rds_agent.removal.run_removal``: read ``current``, rename aside, ``rm -rf``,
  read back; both servers in parallel; events to a null publisher);
* ``gc, 2 workers``: the same 30 tasks, two at a time (the gc service's
  default ``max_workers``);
* ``plain ssh rm -rf``: the plain alternative, one OpenSSH ``rm -rf`` of all
  30 directories per server, both servers in parallel (no safety checks, no
  per-release results).

    .venv/bin/python bench/gc.py [--releases 30] [--files 200] [--rounds 3]
"""
import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from rds_agent.removal import run_removal
from rds_agent.reporting import TaskReporter
from rds_agent.run_records import TaskFiles
from rds_agent.settings import AgentSettings
from rds_contracts.base import ServerSpec
from rds_contracts.gc import RemoveReleaseCommand
from rds_testing.appservers import AppServer, ensure_keypair, free_port

USERS = ("rdsapp1", "rdsapp2")


def version(number):
    return "1.00.%03d.%d" % (number, number)


def populate(server, deploy_path, releases, files):
    entry = pwd.getpwnam(server.user)
    root = server.path(deploy_path)
    shutil.rmtree(root, ignore_errors=True)
    for number in range(1, releases + 1):
        for index in range(files):
            path = os.path.join(root, "releases", version(number), "d%d" % (index % 10),
                                "f%d.txt" % index)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write("x" * 1024)
    os.symlink("releases/" + version(releases + 1), os.path.join(root, "current"))
    subprocess.run(["chown", "-R", "%d:%d" % (entry.pw_uid, entry.pw_gid),
                    server.path(deploy_path.split("/")[0])], check=True)


def left(servers, deploy_path):
    return sum(len(os.listdir(s.path(deploy_path, "releases"))) for s in servers)


def gc_tasks(specs, deploy_path, releases, settings, workers):
    events = []
    files = TaskFiles(settings.run_dir)

    def one(number):
        command = RemoveReleaseCommand(task_id=uuid.uuid4().hex, project="bench",
                                       version=version(number), deploy_path=deploy_path,
                                       servers=specs)
        run_removal(command, TaskReporter(events.append, command.task_id, "bench/gc/1"),
                    settings, files)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(1, releases + 1)))
    assert not [e for e in events if type(e).__name__ == "RemovalFailed"], events[-1]


def plain_ssh(servers, key, deploy_path, releases):
    def one(server):
        targets = " ".join("%s/releases/%s" % (deploy_path, version(n))
                           for n in range(1, releases + 1))
        subprocess.run(["ssh", "-q", "-i", key, "-p", str(server.port), "-o", "BatchMode=yes",
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "%s@127.0.0.1" % server.user, "rm -rf " + targets], check=True)

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        list(pool.map(one, servers))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=30)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="rds-bench-gc-")
    os.chmod(base, 0o755)
    key = ensure_keypair(os.path.join(base, "ssh", "id_ed25519"))
    servers = [AppServer(os.path.join(base, user), free_port(), user, key + ".pub").start()
               for user in USERS]
    deploy_path = "apps/bench-gc-%s" % uuid.uuid4().hex[:8]
    specs = [ServerSpec(id=i + 1, host="127.0.0.1", port=s.port, user=s.user)
             for i, s in enumerate(servers)]
    settings = AgentSettings.from_config({"AGENT_WORK_DIR": os.path.join(base, "agent"),
                                          "SSH_KEY_PATH": key})
    scenarios = {
        "gc, one task at a time": lambda: gc_tasks(specs, deploy_path, args.releases,
                                                   settings, 1),
        "gc, 2 workers": lambda: gc_tasks(specs, deploy_path, args.releases, settings, 2),
        "plain ssh rm -rf": lambda: plain_ssh(servers, key, deploy_path, args.releases),
    }
    results = {}
    try:
        for name, run in scenarios.items():
            times = []
            for _ in range(args.rounds):
                for server in servers:
                    populate(server, deploy_path, args.releases, args.files)
                started = time.perf_counter()
                run()
                times.append(time.perf_counter() - started)
                assert left(servers, deploy_path) == 0, "%s left releases behind" % name
            results[name] = statistics.median(times)
    finally:
        for server in servers:
            server.reset_home(deploy_path)
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    plain = results["plain ssh rm -rf"]
    print("Removing %d releases (%d files each) from 2 servers, median of %d:"
          % (args.releases, args.files, args.rounds))
    for name, seconds in results.items():
        print("  %-24s %6.2fs  (%.1fx plain ssh)" % (name, seconds, seconds / plain))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
