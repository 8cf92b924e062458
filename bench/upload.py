"""Upload and switch at the speed of the wire? rds against plain tools, side by side.

Starts N loopback sshd app servers (one login user each: ``rdsbench1``...),
makes a bundle (default 5,000 files of 20 KiB in 50 directories, text-like
content so it compresses roughly like source code and templates), and then,
in the same run and on the same servers, times:

* sequential ``scp -r``, parallel ``tar | ssh``, parallel ``rsync -a``
  (full uploads, plain OpenSSH client with its defaults);
* rds's full upload (:func:`rds_ssh.upload.upload_release`; the manifest is
  computed before the clock starts, as the builder's pack step does), once
  with the default transport (system ``ssh`` for bulk data) and once with
  paramiko only;
* after changing 1% of the files (a line edited in each): parallel
  ``rsync -a --link-dest`` against the first copy, and rds's redeploy;
* rds's activation of the new release on every server with new connections,
  then the rollback with the connections the upload left open (ControlMaster,
  kept 60 s), while a separate process reads ``current/<file>`` on every
  server in a loop and counts the reads that failed.

Bytes are measured from the sockets: an nftables table counts every byte
(both directions, headers included) to and from the bench servers' ports;
"bytes/server" is that total divided by N. Without nftables the column is
``n/a``.

    .venv/bin/python bench/upload.py            # 4 and 20 servers
    BENCH_SERVERS=4 BENCH_FILES=1000 .venv/bin/python bench/upload.py   # a quick run

Needs root (sshd, useradd, nft). Prints one table per server count.
"""
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from rds_contracts.base import ServerSpec
from rds_core.manifest import scan_tree
from rds_ssh.activate import switch_servers
from rds_ssh.connection import SshSettings, connect
from rds_ssh.upload import upload_release
from rds_ssh.workers import close_idle_connections
from rds_testing.appservers import AppServer, ensure_keypair, free_port

V1, V2 = "1.00.001.1", "1.00.002.2"
WORDS = ("def class return import self request response render template value error "
         "server release current deploy build upload verify manifest version project "
         "<div> </div> <span> href= src= {{ }} {% %} if else for in not and or None True "
         "False async await yield lambda").split()
NFT_TABLE = "rdsbench"
#: sequential scp is measured on this many servers and scaled to N (it is N times one copy)
SCP_SERVERS = int(os.environ.get("BENCH_SCP_SERVERS", "2"))


def text_file(rng, size):
    lines, total = [], 0
    while total < size:
        line = " " * rng.randrange(0, 12, 4) + " ".join(
            rng.choice(WORDS) for _ in range(rng.randrange(3, 12))) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def make_bundle(root, files, size, seed=13):
    rng = random.Random(seed)
    for index in range(files):
        directory = os.path.join(root, "dir%02d" % (index % 50))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "file%05d.txt" % index), "w") as handle:
            handle.write(text_file(rng, size))


def change_one_percent(root, files, seed=7):
    """Edit one line in 1% of the files (unchanged files keep their mtime)."""
    rng = random.Random(seed)
    chosen = rng.sample(range(files), max(1, files // 100))
    for index in chosen:
        path = os.path.join(root, "dir%02d" % (index % 50), "file%05d.txt" % index)
        with open(path) as handle:
            lines = handle.read().splitlines(keepends=True)
        middle = len(lines) // 2
        lines[middle] = "    changed = %d  # edited for the next release\n" % rng.randrange(10**6)
        with open(path, "w") as handle:
            handle.write("".join(lines))
    return len(chosen)


class Sockets:
    """Bytes to and from the bench ports, counted by nftables (None if unavailable)."""

    def __init__(self, ports):
        self.ok = shutil.which("nft") is not None
        if not self.ok:
            return
        ports_set = ", ".join(str(p) for p in ports)
        script = "\n".join([
            "table inet %s {" % NFT_TABLE,
            "  counter bytes_in {}", "  counter bytes_out {}",
            "  chain input { type filter hook input priority 0; policy accept;",
            "    tcp dport { %s } counter name bytes_in" % ports_set,
            "    tcp sport { %s } counter name bytes_out" % ports_set,
            "  }", "}"])
        self.close()
        done = subprocess.run(["nft", "-f", "-"], input=script, text=True,
                              capture_output=True)
        self.ok = done.returncode == 0
        if not self.ok:
            print("nft unavailable (%s): bytes not measured" % done.stderr.strip())

    def total(self):
        if not self.ok:
            return None
        total = 0
        for name in ("bytes_in", "bytes_out"):
            out = subprocess.run(["nft", "-j", "list", "counter", "inet", NFT_TABLE, name],
                                 capture_output=True, text=True, check=True).stdout
            for item in json.loads(out)["nftables"]:
                if "counter" in item:
                    total += item["counter"]["bytes"]
        return total

    def close(self):
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)


class Bench:
    def __init__(self, count, work, key, files, size):
        self.count, self.work, self.key = count, work, key
        self.files, self.size = files, size
        self.servers = []
        self.sockets = None

    def start(self):
        count, work, key = self.count, self.work, self.key
        for i in range(count):
            self.servers.append(AppServer(os.path.join(work, "servers", "rdsbench%d" % (i + 1)),
                                          free_port(), "rdsbench%d" % (i + 1), key + ".pub"))
            self.servers[-1].start()
        self.specs = [ServerSpec(id=i + 1, host="127.0.0.1", port=s.port, user=s.user)
                      for i, s in enumerate(self.servers)]
        self.known_hosts = os.path.join(work, "known_hosts")
        self.settings = SshSettings(key_path=key, known_hosts_path=self.known_hosts,
                                    command_timeout=1800)
        for spec in self.specs:  # record the host keys (accept-new) before the anchors
            connect(spec, self.settings).close()
        self.sockets = Sockets([s.port for s in self.servers])
        self.rows = []
        return self

    def stop(self):
        if self.sockets is not None:
            self.sockets.close()
        close_idle_connections()
        if self.servers:  # in parallel: each stop may wait for its sshd to go away
            with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
                list(pool.map(lambda server: server.stop(), self.servers))
        for server in self.servers:
            shutil.rmtree(server.path("bench"), ignore_errors=True)

    def ssh(self, server):
        return ("ssh -p %d -i %s -o BatchMode=yes -o UserKnownHostsFile=%s "
                "-o StrictHostKeyChecking=yes -l %s" % (server.port, self.key, self.known_hosts,
                                                       server.user))

    def clean(self, name):
        for server in self.servers:
            shutil.rmtree(server.path("bench", name), ignore_errors=True)

    def measure(self, label, fn):
        os.sync()  # the previous step's writes must not be flushed on this step's clock
        before = self.sockets.total()
        started = time.perf_counter()
        detail = fn()
        seconds = time.perf_counter() - started
        after = self.sockets.total()
        per_server = None if before is None else (after - before) / self.count
        self.rows.append((label, seconds, per_server, detail))
        print("  %-44s %7.2f s  %s  %s" % (label, seconds, human(per_server), detail or ""),
              flush=True)
        return seconds, per_server

    def shell_all(self, commands):
        def run(command):
            done = subprocess.run(command, shell=True, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError("%s failed: %s" % (command, done.stderr[-500:]))
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            list(pool.map(run, commands))

    def scp(self, bundle):
        """Sequential scp to the first SCP_SERVERS servers (it is linear in N by design)."""
        self.clean("scp")
        for server in self.servers[:SCP_SERVERS]:
            subprocess.run(["ssh", *shlex.split(self.ssh(server))[1:], "127.0.0.1",
                            "mkdir -p bench/scp"], check=True, capture_output=True)
            subprocess.run(["scp", "-q", "-r", "-P", str(server.port), "-i", self.key,
                            "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=%s" % self.known_hosts,
                            "-o", "StrictHostKeyChecking=yes", bundle,
                            "%s@127.0.0.1:bench/scp/" % server.user], check=True)

    def tar_ssh(self, bundle):
        self.shell_all(["tar -C %s -cf - . | %s 127.0.0.1 'mkdir -p bench/tar && "
                        "tar -xf - -C bench/tar'" % (shlex.quote(bundle), self.ssh(s))
                        for s in self.servers])

    def rsync(self, bundle, dest, link_dest=None):
        extra = "--link-dest=../r1 " if link_dest else ""
        self.shell_all(["%s 127.0.0.1 'mkdir -p bench/rsync' && rsync -a %s-e %s %s/ "
                        "%s@127.0.0.1:bench/rsync/%s/" % (
                            self.ssh(s), extra, shlex.quote(self.ssh(s)), shlex.quote(bundle),
                            s.user, dest) for s in self.servers])

    def rds_upload(self, version, tree, manifest, deploy_path, settings, work):
        results = upload_release(self.specs, deploy_path, version, tree, manifest, settings,
                                 work, concurrency=self.count, log=lambda text: None,
                                 manifest_cache=os.path.join(self.work, "manifests"))
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError("rds upload failed: %s" % failed[0].error)
        methods = sorted({r.method for r in results})
        return "%s, payload %s/server" % ("+".join(methods), human(
            sum(r.bytes_sent for r in results) / len(results)))

    def activation(self, deploy_path, version, sample, settings):
        paths = [s.path(deploy_path, "current", sample) for s in self.servers]
        stop = os.path.join(self.work, "stop-reader")
        reader = subprocess.Popen([sys.executable, "-c", READER, stop, *paths],
                                  stdout=subprocess.PIPE, text=True)
        try:
            while not os.path.exists(stop + ".ready"):
                time.sleep(0.01)
            started = time.perf_counter()
            outcome = switch_servers(self.specs, deploy_path, version, settings,
                                       log=lambda text: None)
            seconds = time.perf_counter() - started
        finally:
            open(stop, "w").close()
            reads, failed = reader.communicate(timeout=30)[0].split()
            os.unlink(stop)
            os.unlink(stop + ".ready")
        if not outcome.ok:
            raise RuntimeError("activation failed: %s" % outcome.reason)
        return seconds, int(reads), int(failed)


READER = r"""
import os, sys
stop, paths = sys.argv[1], sys.argv[2:]
reads = failed = 0
open(stop + ".ready", "w").close()
while not os.path.exists(stop):
    for path in paths:
        reads += 1
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError:
            failed += 1
print(reads, failed)
"""


def human(size):
    if size is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (size, unit)
        size /= 1000.0


def run(count, files, size, work, key, bundle, bundle2, changed, manifest1, manifest2):
    print("\n== %d servers, %d files of %d KiB, %s changed for the redeploy ==" % (
        count, files, size // 1024, changed), flush=True)
    bench = Bench(count, os.path.join(work, "n%d" % count), key, files, size)
    try:
        bench.start()
        measured = min(SCP_SERVERS, count)
        scp = bench.measure("sequential scp -r (%d servers measured)" % measured,
                            lambda: bench.scp(bundle))
        scp = (scp[0] * count / measured, None if scp[1] is None else scp[1] * count / measured)
        bench.clean("scp")
        tar = bench.measure("parallel tar | ssh", lambda: bench.tar_ssh(bundle))
        bench.clean("tar")
        bench.measure("parallel rsync -a", lambda: bench.rsync(bundle, "r1"))
        rsync2 = bench.measure("rsync --link-dest, 1% changed",
                               lambda: bench.rsync(bundle2, "r2", link_dest=True))
        bench.clean("rsync")
        paramiko_settings = SshSettings(key_path=key, known_hosts_path=bench.known_hosts,
                                        command_timeout=1800, transport="paramiko")
        rds_p = bench.measure("rds full upload (paramiko only)", lambda: bench.rds_upload(
            V1, bundle, manifest1, "bench/rdsp", paramiko_settings,
            os.path.join(bench.work, "packs-p")))
        bench.clean("rdsp")
        rds1 = bench.measure("rds full upload", lambda: bench.rds_upload(
            V1, bundle, manifest1, "bench/rds", bench.settings,
            os.path.join(bench.work, "packs-1")))
        rds2 = bench.measure("rds redeploy, 1% changed", lambda: bench.rds_upload(
            V2, bundle2, manifest2, "bench/rds", bench.settings,
            os.path.join(bench.work, "packs-2")))
        sample = os.path.join("dir00", "file00000.txt")
        cold_settings = SshSettings(key_path=key, known_hosts_path=bench.known_hosts,
                                    control_dir="")
        assert switch_servers(bench.specs, "bench/rds", V1, cold_settings,
                                log=lambda text: None).ok  # something live to switch from
        cold = bench.activation("bench/rds", V2, sample, cold_settings)
        print("  %-44s %7.2f s  %d reads, %d failed" % (
            "rds activation, new connections", *cold), flush=True)
        warm = bench.activation("bench/rds", V1, sample, bench.settings)
        print("  %-44s %7.2f s  %d reads, %d failed" % (
            "rds rollback, connections kept from upload", *warm), flush=True)
        bench.clean("rds")
    finally:
        bench.stop()
    table = [
        "| what (%d servers) | rds | anchor | ratio | goal |" % count,
        "|---|---|---|---|---|",
        "| full upload | %.2f s | parallel `tar \\| ssh` %.2f s | %.2fx | <= 1.2x |" % (
            rds1[0], tar[0], rds1[0] / tar[0]),
        "| full upload, paramiko only | %.2f s | parallel `tar \\| ssh` %.2f s | %.2fx | - |" % (
            rds_p[0], tar[0], rds_p[0] / tar[0]),
        "| full upload vs sequential `scp -r`%s | %.2f s | %.2f s | %.2fx | - |" % (
            "" if count <= SCP_SERVERS else " (scaled from %d servers)" % SCP_SERVERS,
            rds1[0], scp[0], rds1[0] / scp[0]),
        "| full upload bytes/server | %s | `tar \\| ssh` %s | %s | - |" % (
            human(rds1[1]), human(tar[1]), ratio(rds1[1], tar[1])),
        "| redeploy, 1%% changed | %.2f s | `rsync --link-dest` %.2f s | %.2fx | <= 1.0x |" % (
            rds2[0], rsync2[0], rds2[0] / rsync2[0]),
        "| redeploy bytes/server | %s | rsync %s | %s | <= 2x |" % (
            human(rds2[1]), human(rsync2[1]), ratio(rds2[1], rsync2[1])),
        "| activation, new connections | %.2f s | - | - | < 0.5 s |" % cold[0],
        "| rollback, connections kept from the upload | %.2f s | - | - | < 0.5 s |" % warm[0],
        "| failed reads of `current` during both activations | %d of %d | - | - | 0 |" % (
            cold[2] + warm[2], cold[1] + warm[1]),
    ]
    return "\n".join(table)


def ratio(a, b):
    return "n/a" if a is None or b is None or not b else "%.2fx" % (a / b)


def main():
    if os.geteuid() != 0:
        print("bench/upload.py needs root (sshd, useradd, nft)")
        return 2
    counts = [int(c) for c in os.environ.get("BENCH_SERVERS", "4,20").split(",") if c]
    files = int(os.environ.get("BENCH_FILES", "5000"))
    size = int(os.environ.get("BENCH_FILE_KB", "20")) * 1024
    work = tempfile.mkdtemp(prefix="rds-bench-")
    os.chmod(work, 0o755)  # sshd reads authorized_keys there as the login user
    try:
        key = ensure_keypair(os.path.join(work, "id_ed25519"))
        bundle, bundle2 = os.path.join(work, "bundle"), os.path.join(work, "bundle2")
        make_bundle(bundle, files, size)
        subprocess.run(["cp", "-a", bundle, bundle2], check=True)
        changed = change_one_percent(bundle2, files)
        manifest1, manifest2 = scan_tree(bundle), scan_tree(bundle2)
        total = sum(e.size for e in manifest1.files)
        print("bundle: %d files, %s; machine: %s, %d cores, Python %s, %s" % (
            files, human(total), platform.platform(), os.cpu_count(),
            platform.python_version(), subprocess.run(["ssh", "-V"], capture_output=True,
                                                      text=True).stderr.strip()))
        tables = [run(count, files, size, work, key, bundle, bundle2, changed, manifest1,
                      manifest2) for count in counts]
        print()
        for table in tables:
            print(table)
            print()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.stack_size(1024 * 1024)
    sys.exit(main())
