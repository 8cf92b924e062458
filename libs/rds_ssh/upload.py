"""Uploading a release to many servers: seeded, delta-sent, verified, published atomically.

Per server (in parallel, at most ``concurrency`` at a time), on one connection
(:class:`rds_ssh.workers.Sessions`; every step is one shell command):

1. **probe** (one remote command): create ``<dp>/releases`` and ``<dp>/shared``,
   read ``current``, list the releases with the first line of their
   ``.rds-verified`` (the hash of their manifest), see whether ``rsync`` and
   ``zstd`` are installed;
2. **seed**: the release ``current`` points to if it has a manifest, else the
   newest other one (never the version being uploaded, never hidden or
   partial directories). Its manifest comes from the builder's manifest cache
   by hash (nothing crosses the wire), else it is read once (``cat``);
3. **stage** in ``<dp>/releases/.<version>.partial-<random>``: hard-link copy of
   the seed (``cp -al``), then delete what changed or went away (before
   anything is written, so a changed file gets a new inode and an older
   release is never modified through a shared hard link);
4. **send** only the difference (:mod:`rds_ssh.pack`, made once per seed group):

   * with ``rsync`` on both ends and the system ``ssh`` client: the changed
     files as **block-level deltas** against the seed's versions
     (``rsync --copy-dest=<seed>``), the new manifest as a delta against the
     seed's manifest; compression if it measured worth it;
   * otherwise a tar stream, packed once while every server of the group
     reads it, compressed as measured, over the system ``ssh`` client or the
     paramiko channel;

5. **verify** on the server (one command), so a server counts as ready only
   when its release matches the manifest:

   * what travelled: ``sha256sum -c`` of the sent files and the two manifest
     files;
   * what was hard-linked: one ``find`` pass compares inode, size and mtime of
     every other file with the seed's ``.rds-verified`` list, written when the
     seed itself was verified, so the seed cannot have changed since (an
     edited or replaced file, a stray file: the check fails). A seed without
     that list (uploaded by an older rds) is hashed in full;
   * the counts of regular files and symlinks;

   then write this release's own ``.rds-verified`` (``manifest <sha256>`` and one
   ``inode size mtime path`` line per file);
6. **publish**: rename the staging directory to ``<dp>/releases/<version>``
   (``mv -T``: rename(2), so the release appears complete or not at all). An
   old non-live copy of the version is moved aside and deleted first; the
   live release is never replaced. Staging is removed on failure.

If a seeded upload fails (the seed drifted, its files cannot be hard-linked),
the server gets one full upload instead.

A failure budget (``max_failures``) stops starting new servers once more
servers failed than allowed; ``is_cancelled()`` is checked before each server,
between steps and while sending.
"""
import hashlib
import logging
import os
import posixpath
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rds_contracts.base import ServerSpec
from rds_core import names
from rds_core.manifest import (
    MANIFEST_FILES,
    MANIFEST_JSON,
    MANIFEST_SHA256,
    BadTree,
    Entry,
    Manifest,
    sha256sum_lines,
)
from rds_core.versions import version_key
from rds_ssh.connection import SshSession, SshSettings, openssh_argv
from rds_ssh.errors import SshError
from rds_ssh.pack import Packer, SendTree, Stream
from rds_ssh.workers import (
    CURRENT_PROBE,
    Log,
    Remote,
    Sessions,
    error_text,
    fan_out,
    log_to_logger,
)

logger = logging.getLogger(__name__)
SKIPPED = "skipped: failure budget exhausted"
CANCELLED = "cancelled"
VERIFIED = ".rds-verified"
CHECK = ".rds-check"
MANIFEST_CACHE_KEEP = 32

#: One pass over the staged release (input: ``find -printf '%y %i %s %T@ %P\n'``).
#: Sent files (listed in .rds-check) were hash-checked before; every other file
#: must be the seed's verified inode, unchanged. Writes the new .rds-verified.
VERIFY_AWK = r"""
function rest(s, n) { while (n-- > 0) s = substr(s, index(s, " ") + 1); return s }
BEGIN {
  while ((getline line < check) > 0) sent[substr(line, 69)] = 1
  if (seed != "") {
    getline line < seed
    while ((getline line < seed) > 0) want[rest(line, 3)] = line
  }
  print "manifest " id > out
}
{
  path = rest($0, 4)
  if (path == check || path == out || path == verified) next
  if ($1 == "l") { nl++; next }
  if ($1 != "f") next
  nf++
  line = $2 " " $3 " " $4 " " path
  print line > out
  if (seed == "" || (path in sent)) next
  if (!(path in want)) { bad++; if (bad <= 10) print "not in the verified seed: " path; next }
  if (want[path] != line) {
    bad++; if (bad <= 10) print "changed since the seed was verified: " path
  }
}
END {
  if (nf != files || nl != links) {
    print "expected " files " files and " links " symlinks (manifest + 2 manifest files), " \
      "found " nf " and " nl
    bad++
  }
  exit (bad > 0)
}
"""


@dataclass
class ServerUpload:
    """What happened on one server."""

    server: ServerSpec
    ok: bool
    manifest_sha256: str | None = None  # Manifest.sha256 of the verified release
    files_sent: int = 0  # regular files sent (the manifest files not counted)
    bytes_sent: int = 0  # payload bytes streamed to the server (tar or rsync's count)
    seeded_from: str | None = None  # the release hard-linked from, None: full upload
    method: str | None = None  # "rsync", "tar/openssh" or "tar/paramiko"
    error: str | None = None


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class _Seed:
    version: str
    manifest: Manifest
    verified: bool  # the release has a .rds-verified list for exactly this manifest


@dataclass
class _Probe:
    dp: str
    current: str | None = None
    tools: frozenset[str] = frozenset()
    releases: dict[str, str] = field(default_factory=dict)  # version -> .rds-verified line 1


class ManifestCache:
    """Manifests this builder uploaded, by SHA-256, so seeds need not be read back."""

    def __init__(self, path: str | None, keep: int = MANIFEST_CACHE_KEEP):
        self.path = path
        self.keep = keep

    def get(self, sha256: str) -> Manifest | None:
        if not self.path or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            return None
        try:
            with open(os.path.join(self.path, sha256 + ".json")) as handle:
                manifest = Manifest.from_json(handle.read())
        except (OSError, ValueError, TypeError, KeyError, BadTree):
            return None
        return manifest if manifest.sha256 == sha256 else None

    def put(self, manifest: Manifest) -> None:
        if not self.path:
            return
        try:
            os.makedirs(self.path, exist_ok=True)
            target = os.path.join(self.path, manifest.sha256 + ".json")
            if not os.path.exists(target):
                fd, tmp = tempfile.mkstemp(dir=self.path, suffix=".partial")
                with os.fdopen(fd, "w") as handle:
                    handle.write(manifest.to_json())
                os.replace(tmp, target)
            else:
                os.utime(target)
            kept = sorted((e for e in os.scandir(self.path) if e.name.endswith(".json")),
                          key=lambda e: e.stat().st_mtime, reverse=True)
            for old in kept[self.keep:]:
                os.unlink(old.path)
        except OSError as exc:  # a cache: never fail an upload over it
            logger.warning("manifest cache %s: %s", self.path, exc)


def upload_release(servers: Sequence[ServerSpec], deploy_path: str, version: str, tree_root: str,
                   manifest: Manifest, settings: SshSettings, work_dir: str,
                   concurrency: int = 8, max_failures: int = 0, log: Log = log_to_logger,
                   is_cancelled: Callable[[], bool] = lambda: False,
                   on_server_ready: Callable[[ServerUpload], None] | None = None,
                   manifest_cache: str | None = None) -> list[ServerUpload]:
    """Upload ``tree_root`` (described by ``manifest``) as ``version`` to every server.

    Returns one :class:`ServerUpload` per server, in order; raises
    ``rds_core.names.InvalidName`` for a bad deploy path or version before
    connecting anywhere. The packs stay in ``work_dir`` for the caller to
    remove. ``manifest_cache``: a directory kept between uploads where the
    builder remembers the manifests it sent (seeds are then not read back).
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.check_version(version)
    names.release_dir(deploy_path, version)
    servers = list(servers)
    packer = Packer(tree_root, manifest, work_dir, version, servers=len(servers))
    budget = _Budget(max_failures)
    cache = ManifestCache(manifest_cache)
    cache.put(manifest)

    with Sessions(settings) as sessions:
        def one(server: ServerSpec) -> ServerUpload:
            if is_cancelled():
                return ServerUpload(server, ok=False, error=CANCELLED)
            if budget.exhausted():
                log("%s: %s" % (server.label, SKIPPED))
                return ServerUpload(server, ok=False, error=SKIPPED)
            result = _ServerUploader(server, sessions, deploy_path, version, manifest, packer,
                                     cache, log, is_cancelled).run()
            if not result.ok and result.error != CANCELLED:
                budget.failed()
            elif result.ok and on_server_ready is not None:
                try:
                    on_server_ready(result)
                except Exception:  # the release is there; a reporting bug must not undo it
                    logger.exception("on_server_ready failed for %s", server.label)
            return result

        return fan_out(one, servers, concurrency)


class _Budget:
    def __init__(self, max_failures: int):
        self.max_failures = max_failures
        self.failures = 0
        self.lock = threading.Lock()

    def failed(self) -> None:
        with self.lock:
            self.failures += 1

    def exhausted(self) -> bool:
        with self.lock:
            return self.failures > self.max_failures


class _ServerUploader:
    """The steps of one server's upload."""

    def __init__(self, server: ServerSpec, sessions: Sessions, deploy_path: str, version: str,
                 manifest: Manifest, packer: Packer, cache: ManifestCache, log: Log,
                 is_cancelled: Callable[[], bool]):
        self.server, self.label, self.sessions = server, server.label, sessions
        self.settings = sessions.settings
        self.deploy_path, self.version, self.manifest = deploy_path, version, manifest
        self.packer, self.cache = packer, cache
        self.log, self.is_cancelled = log, is_cancelled
        self.result = ServerUpload(server, ok=False)
        self.session: Remote | None = None
        self.staging: str | None = None

    @property
    def remote(self) -> Remote:
        """The server's session (:meth:`run` opens it before any step)."""
        if self.session is None:
            raise RuntimeError("%s: no session yet" % self.label)
        return self.session

    @property
    def staged(self) -> str:
        """The staging directory (:meth:`transfer` names it before sending)."""
        if self.staging is None:
            raise RuntimeError("%s: no staging directory yet" % self.label)
        return self.staging

    def check(self) -> None:
        if self.is_cancelled():
            raise _Cancelled()

    def run(self) -> ServerUpload:
        try:
            self.session = self.sessions.get(self.server)
            try:
                self.upload()
            except BaseException:
                self.remove_staging()
                raise
        except _Cancelled:
            self.result.error = CANCELLED
            self.log("%s: upload cancelled" % self.label)
        except SshError as exc:
            self.result.error = error_text(self.server, exc)
            self.log("%s: upload failed: %s" % (self.label, self.result.error))
        except Exception as exc:  # a bug or a local problem (e.g. packing): still per server
            logger.exception("upload to %s failed", self.label)
            self.result.error = "%s: %s" % (type(exc).__name__, exc)
            self.log("%s: upload failed: %s" % (self.label, self.result.error))
        return self.result

    # -- the steps ---------------------------------------------------------------------

    def upload(self) -> None:
        self.check()
        probe = self.probe()
        self.dp = probe.dp
        self.releases = posixpath.join(self.dp, "releases")
        self.target = posixpath.join(self.releases, self.version)
        self.refuse_live(probe)
        self.openssh = self.settings.openssh
        self.tools = probe.tools
        seed = self.find_seed(probe)
        try:
            self.transfer(seed)
        except SshError as exc:
            if seed is None:
                raise
            # a drifted or unlinkable seed must not block the deploy for good
            self.log("%s: seeded upload failed (%s); retrying as a full upload"
                     % (self.label, error_text(self.server, exc)))
            self.remove_staging()
            seed = None
            self.transfer(None)
        self.result.ok = True
        self.result.manifest_sha256 = self.manifest.sha256
        self.result.seeded_from = seed.version if seed else None
        self.log("%s: release %s is ready at %s" % (self.label, self.version, self.target))

    def probe(self) -> _Probe:
        q = shlex.quote
        dp = self.deploy_path
        output = self.remote.run_checked(
            "mkdir -p -- %s/releases %s/shared && cd -- %s && pwd && %s; "
            "for t in rsync zstd; do command -v \"$t\" >/dev/null 2>&1 && echo \"tool $t\"; done; "
            "for d in releases/*/; do d=${d%%/}; [ -L \"$d\" ] && continue; "
            "[ -f \"$d/%s\" ] || continue; v=; [ -f \"$d/%s\" ] && v=$(head -n 1 \"$d/%s\"); "
            "printf 'release %%s %%s\\n' \"${d#releases/}\" \"$v\"; done; true"
            % (q(dp), q(dp), q(dp), CURRENT_PROBE, MANIFEST_JSON, VERIFIED, VERIFIED),
            doing="preparing %s" % dp)
        lines = output.splitlines()
        probe = _Probe(dp=lines[0].strip() if lines else dp)
        tools, releases = set(), {}
        for line in lines[1:]:
            word, _, rest = line.partition(" ")
            if word == "rds:current":
                probe.current = rest
            elif word == "tool":
                tools.add(rest.strip())
            elif word == "release":
                name, _, first = rest.partition(" ")
                releases[name] = first.strip()
        probe.tools, probe.releases = frozenset(tools), releases
        return probe

    def current_release(self, probe: _Probe) -> str | None:
        if probe.current is None:
            return None
        return posixpath.normpath(posixpath.join(self.dp, probe.current))

    def refuse_live(self, probe: _Probe) -> None:
        if self.current_release(probe) == self.target:
            raise SshError(self.label, "release %s is the live release (current points to it): "
                           "refusing to replace the live release" % self.version)

    def find_seed(self, probe: _Probe) -> _Seed | None:
        """The release to hard-link from, with its manifest, or None."""
        candidates = []
        current = self.current_release(probe)
        if current and posixpath.dirname(current) == self.releases:
            candidates.append(posixpath.basename(current))
        candidates += sorted((v for v in probe.releases if _is_version(v)), key=version_key,
                             reverse=True)
        for candidate in candidates:
            if candidate == self.version or candidate not in probe.releases:
                continue
            first = probe.releases[candidate].split()
            claimed = first[1] if len(first) == 2 and first[0] == "manifest" else None
            seed = self.cache.get(claimed) if claimed else None
            if seed is None:
                seed = self.read_manifest(posixpath.join(self.releases, candidate))
                if seed is None:
                    continue
                self.cache.put(seed)
            return _Seed(candidate, seed, verified=claimed == seed.sha256)
        return None

    def read_manifest(self, release: str) -> Manifest | None:
        path = posixpath.join(release, MANIFEST_JSON)
        status, text = self.remote.run("if [ -f %s ]; then cat -- %s; else exit 3; fi"
                                        % (shlex.quote(path), shlex.quote(path)))
        if status == 3:
            return None
        if status != 0:
            raise SshError(self.label, "cannot read %s (exit %s): %s"
                           % (path, status, text.strip()[-500:]))
        try:
            seed = Manifest.from_json(text)
        except (ValueError, TypeError, KeyError, BadTree) as exc:
            self.log("%s: ignoring unreadable manifest %s: %s" % (self.label, path, exc))
            return None
        if not all(_safe_relpath(p) for p in seed.entries):
            self.log("%s: ignoring manifest %s with unsafe paths" % (self.label, path))
            return None
        return seed

    def transfer(self, seed: _Seed | None) -> None:
        """Stage, send and verify the release; publish it."""
        self.check()
        self.staging = posixpath.join(self.releases, ".%s.partial-%s" % (
            self.version, secrets.token_hex(6)))
        use_rsync = (seed is not None and self.openssh is not None and "rsync" in self.tools
                     and shutil.which("rsync") is not None)
        try:
            delta = self.packer.delta(seed.manifest if seed else None)
            tree = self.packer.tree_for(seed.manifest) if use_rsync and seed else None
        except (OSError, BadTree) as exc:
            raise SshError(self.label, "packing the upload failed: %s" % exc) from None
        self.stage(seed, delta.remove)
        self.check()
        if tree is not None and seed is not None:  # (a tree is made only with a seed)
            self.send_rsync(seed, tree)
        else:
            self.send_tar(seed)
        self.check()
        sent = [self.manifest.entries[p] for p in delta.send
                if self.manifest.entries[p].type == "f"]
        self.result.files_sent = len(sent)
        self.verify(seed, sent)
        self.check()
        self.publish()

    def stage(self, seed: _Seed | None, remove: Iterable[str]) -> None:
        q = shlex.quote
        if seed is None:
            return  # the tar command creates the directory
        # hard-link the seed, then delete what changes (before extracting: new inodes)
        doomed = list(remove) + list(MANIFEST_FILES) + [VERIFIED]
        self.remote.run_checked(
            "mkdir -- %s && cp -al -- %s/. %s/ && cd -- %s && xargs -d '\\n' -r rm -rf --" % (
                q(self.staged), q(posixpath.join(self.releases, seed.version)),
                q(self.staged), q(self.staged)),
            stdin="".join("./%s\n" % p for p in doomed),
            doing="hard-linking release %s into the staging directory" % seed.version)

    def send_rsync(self, seed: _Seed, tree: SendTree) -> None:
        if self.openssh is None:
            raise RuntimeError("%s: rsync needs the OpenSSH client" % self.label)
        measured = self.packer.measure(seed.manifest, "zstd" in self.tools)
        self.log("%s: seeded from %s, sending %d changed file%s as rsync deltas%s" % (
            self.label, seed.version, tree.files, "" if tree.files == 1 else "s",
            "" if measured.codec == "none" else ", compressed"))
        host = self.server.host if ":" not in self.server.host else "[%s]" % self.server.host
        ssh = shlex.join(openssh_argv(self.openssh, self.server, self.settings,
                                      control=self.sessions.control_path(self.server),
                                      persist=self.sessions.persist)[:-1])
        argv = ["rsync", "-rlptI", "--stats", "--copy-dest=../%s" % seed.version,
                "--timeout=%d" % max(30, int(self.settings.command_timeout)), "-e", ssh]
        if measured.codec != "none":
            argv.append("-z")
        argv += ["%s/" % tree.path, "%s@%s:%s/" % (self.server.user, host, self.staged)]
        status, output, stopped = _run_local(argv, None, self.settings.command_timeout,
                                             self.is_cancelled)
        self.stopped(stopped, "rsync")
        if status != 0:
            raise SshError(self.label, "rsync failed (exit %s): %s"
                           % (status, output.strip()[-2000:] or "no output"))
        match = re.search(r"Total bytes sent: ([\d,.]+)", output)
        self.result.bytes_sent = int(re.sub(r"[,.]", "", match.group(1))) if match else 0
        self.result.method = "rsync"

    def send_tar(self, seed: _Seed | None) -> None:
        q = shlex.quote
        try:
            stream = self.packer.stream_for(seed.manifest if seed else None,
                                            "zstd" in self.tools)
        except (OSError, BadTree) as exc:
            raise SshError(self.label, "packing the upload failed: %s" % exc) from None
        what = "%d %sfile%s" % (stream.files, "changed " if seed else "",
                                "" if stream.files == 1 else "s")
        self.log("%s: %s, sending %s, %s" % (
            self.label, "seeded from %s" % seed.version if seed else "full upload", what,
            stream.measured.describe()))
        command = "tar -x %s -f - -C %s --no-same-owner --preserve-permissions" % (
            stream.measured.codec.tar_flag, q(self.staged))
        if seed is None:  # nothing staged yet
            command = "mkdir -- %s && %s" % (q(self.staged), command)
        counted = _Counted(stream, self.is_cancelled)
        if self.openssh is not None:
            argv = openssh_argv(self.openssh, self.server, self.settings,
                                control=self.sessions.control_path(self.server),
                                persist=self.sessions.persist) + [command]
            status, output, stopped = _run_local(argv, counted, self.settings.command_timeout,
                                                 self.is_cancelled)
            self.stopped(stopped, "sending the upload")
            self.result.method = "tar/openssh"
        else:
            assert isinstance(self.session, SshSession)  # no OpenSSH client: paramiko sessions
            status, output = self.session.send_stream(command, counted)
            self.result.method = "tar/paramiko"
        if counted.cancelled:
            raise _Cancelled()
        if counted.error is not None:
            raise SshError(self.label, "packing the upload failed: %s" % counted.error)
        if status != 0:
            raise SshError(self.label, "extracting the upload failed (exit %s): %s"
                           % (status, output.strip()[-2000:] or "no output"))
        self.result.bytes_sent = counted.bytes

    def stopped(self, why: str | None, doing: str) -> None:
        if why == "cancelled":
            raise _Cancelled()
        if why is not None:
            raise SshError(self.label, "%s timed out after %ss"
                           % (doing, self.settings.command_timeout))

    def verify(self, seed: _Seed | None, sent: list[Entry]) -> None:
        q = shlex.quote
        json_sha = self.manifest.sha256
        sums_sha = _sha256_text(self.manifest.sha256sum_text())
        check = "%s  ./%s\n%s  ./%s\n" % (json_sha, MANIFEST_JSON, sums_sha, MANIFEST_SHA256)
        verified_seed = seed if seed is not None and seed.verified else None
        hashed_seed = verified_seed is not None
        if hashed_seed:
            check += sha256sum_lines(sent)
        steps = ["cd -- %s" % q(self.staged), "cat > %s" % CHECK,
                 "sha256sum --quiet --strict -c %s" % CHECK]
        if not hashed_seed and self.manifest.files:
            steps.append("sha256sum --quiet --strict -c %s" % MANIFEST_SHA256)
        awk_vars = {"check": CHECK, "out": VERIFIED + ".new", "verified": VERIFIED,
                    "id": json_sha, "files": str(len(self.manifest.files) + 2),
                    "links": str(self.manifest.links),
                    "seed": ("../%s/%s" % (verified_seed.version, VERIFIED)
                             if verified_seed is not None else "")}
        assignments = " ".join("-v %s" % q("%s=%s" % kv) for kv in awk_vars.items())
        steps.append("find . -mindepth 1 \\( -type f -o -type l \\) "
                     "-printf '%%y %%i %%s %%T@ %%P\\n' | awk %s %s" % (assignments,
                                                                       q(VERIFY_AWK)))
        steps.append("rm -f -- %s && mv -f -- %s.new %s" % (CHECK, VERIFIED, VERIFIED))
        name = posixpath.basename(self.staged)
        publish = ("cd .. && if [ -e %s ] || [ -L %s ]; then echo rds:exists; "
                   "else mv -T -- %s %s && echo rds:published; fi" % (
                       q(self.version), q(self.version), q(name), q(self.version)))
        status, output = self.remote.run(" && ".join(steps) + " && " + publish, stdin=check)
        if status != 0 or "rds:" not in output:
            raise SshError(self.label, "verification failed: the uploaded files do not match "
                           "the manifest: %s" % (_first_lines(output) or "exit %s" % status))
        self.log("%s: verified %s against the manifest" % (self.label, (
            "%d sent file%s; %d hard-linked from the verified %s" % (
                len(sent), "" if len(sent) == 1 else "s",
                len(self.manifest.files) - len(sent), verified_seed.version))
            if verified_seed is not None else "%d files" % len(self.manifest.files)))
        if "rds:published" in output:
            self.staging = None

    def publish(self) -> None:
        """Rename the verified staging directory to the release (if verify could not)."""
        if self.staging is None:
            return
        s, q = self.remote, shlex.quote
        live = s.run_checked("cd -- %s && { readlink current || true; }" % q(self.dp))
        if posixpath.normpath(posixpath.join(self.dp, live.strip())) == self.target:
            raise SshError(self.label, "release %s is the live release (current points to it): "
                           "refusing to replace the live release" % self.version)
        aside = posixpath.join(self.releases, ".%s.old-%s" % (
            self.version, secrets.token_hex(6)))
        s.run_checked("mv -T -- %s %s && rm -rf -- %s && mv -T -- %s %s" % (
            q(self.target), q(aside), q(aside), q(self.staging), q(self.target)),
            doing="replacing the earlier upload of %s" % self.version)
        self.log("%s: replaced the earlier upload of %s" % (self.label, self.version))
        self.staging = None

    def remove_staging(self) -> None:
        if self.staging and self.session is not None and self.session.active:
            try:
                self.session.run("rm -rf -- %s" % shlex.quote(self.staging))
            except SshError as exc:
                self.log("%s: could not remove %s: %s" % (self.label, self.staging, exc.message))
        self.staging = None


class _Counted:
    """A stream's chunks, counted, stopping (not raising) on cancel or a packing error."""

    def __init__(self, stream: Stream, is_cancelled: Callable[[], bool]):
        self.stream, self.is_cancelled = stream, is_cancelled
        self.bytes = 0
        self.cancelled = False
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for index, chunk in enumerate(self.stream.spool.chunks()):
                if index % 16 == 15 and self.is_cancelled():
                    self.cancelled = True
                    return
                self.bytes += len(chunk)
                yield chunk
        except Exception as exc:
            self.error = exc


def _run_local(argv: list[str], chunks: Iterable[bytes] | None, timeout: float,
               is_cancelled: Callable[[], bool]) -> tuple[int, str, str | None]:
    """Run a local command (ssh, rsync) feeding ``chunks`` to its stdin.

    Returns ``(status, output, stopped)``; ``stopped`` is ``"cancelled"`` or
    ``"timed out"`` when a watchdog killed the command, else None.
    """
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE if chunks is not None
                                   else subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        finished, stopped = threading.Event(), []

        def watchdog() -> None:
            deadline = time.monotonic() + timeout
            while not finished.wait(0.5):
                why = ("cancelled" if is_cancelled() else
                       "timed out" if time.monotonic() > deadline else None)
                if why:
                    stopped.append(why)
                    process.kill()
                    return

        threading.Thread(target=watchdog, name="watch-%d" % process.pid, daemon=True).start()
        try:
            if chunks is not None and process.stdin is not None:  # stdin is a pipe
                try:
                    for chunk in chunks:
                        process.stdin.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the remote command stopped reading; its status says why
                finally:
                    try:
                        process.stdin.close()
                    except OSError:
                        pass
            status = process.wait()
        finally:
            finished.set()
            if process.poll() is None:
                process.kill()
                process.wait()
        output.seek(0)
        return (status, output.read().decode("utf-8", "replace"),
                stopped[0] if stopped else None)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _is_version(name: str) -> bool:
    try:
        names.check_version(name)
    except names.InvalidName:
        return False
    return True


def _safe_relpath(path: str) -> bool:
    parts = path.split("/")
    return (bool(path) and not path.startswith("/") and "\0" not in path
            and all(p not in ("", ".", "..") for p in parts))


def _first_lines(output: str, lines: int = 10) -> str:
    return "; ".join(output.strip().splitlines()[:lines])
