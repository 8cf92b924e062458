"""Uploading a release to many servers: seeded, verified, published atomically.

Per server (in parallel, at most ``concurrency`` at a time):

1. connect and create ``<dp>/releases`` and ``<dp>/shared`` (SFTP);
2. find a seed: the release ``current`` points to if it has a manifest, else
   the newest other release with one (never the version being uploaded,
   never hidden or partial directories); read its manifest over SFTP;
3. get the tar for that seed from the :class:`~rds_ssh.pack.Packer` (packed
   once per distinct seed manifest, shared by every server of the group);
4. stage in ``<dp>/releases/.<version>.partial-<random>``: hard-link copy of
   the seed (``cp -al``), delete what changed or went away, then extract the
   tar. Deleting before extracting gives every changed file a new inode, so
   an older release is never modified through a shared hard link;
5. verify on the server: ``sha256sum -c`` of the manifest and the count of
   regular files and symlinks;
6. publish: move an old non-live copy of the version aside and delete it
   (the live release is never replaced), then rename the staging dir to
   ``<dp>/releases/<version>`` (SFTP posix-rename: rename(2), like ``mv -T``,
   so the release appears complete or not at all). Staging is removed on
   failure.

Remote shell commands cost a session each (~50 ms), so metadata work goes
through SFTP and a seeded upload needs three commands: ``cp -al`` plus the
removals, ``tar -x``, and the verification.

If a seeded upload fails (the seed drifted on the server, or its files cannot
be hard-linked), the server gets one full upload instead.

A failure budget (``max_failures``) stops starting new servers once more
servers failed than allowed; ``is_cancelled()`` is checked before each server
and between steps.
"""
import logging
import posixpath
import secrets
import shlex
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rds_core import names
from rds_core.manifest import MANIFEST_FILES, MANIFEST_JSON, MANIFEST_SHA256, BadTree, Manifest
from rds_core.versions import version_key
from rds_ssh.connection import connect
from rds_ssh.errors import SshError
from rds_ssh.pack import Packer, human_size

logger = logging.getLogger(__name__)
SKIPPED = "skipped: failure budget exhausted"
CANCELLED = "cancelled"


@dataclass
class ServerUpload:
    """What happened on one server."""

    server: object  # rds_contracts.base.ServerSpec
    ok: bool
    manifest_sha256: str | None = None  # Manifest.sha256 of the verified release
    files_sent: int = 0  # regular files in the tar (the manifest files not counted)
    bytes_sent: int = 0  # size of the tar streamed to the server
    seeded_from: str | None = None  # the release hard-linked from, None: full upload
    error: str | None = None


class _Cancelled(Exception):
    pass


def _log_to_logger(text):
    logger.info("%s", text)


def upload_release(servers, deploy_path, version, tree_root, manifest, settings, work_dir,
                   concurrency=8, max_failures=0, log=_log_to_logger,
                   is_cancelled=lambda: False, on_server_ready=None):
    """Upload ``tree_root`` (described by ``manifest``) as ``version`` to every server.

    Returns one :class:`ServerUpload` per server, in order; raises
    ``rds_core.names.InvalidName`` for a bad deploy path or version before
    connecting anywhere. The tars stay in ``work_dir`` for the caller to remove.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.check_version(version)
    names.release_dir(deploy_path, version)
    packer = Packer(tree_root, manifest, work_dir, version)
    budget = _Budget(max_failures)

    def one(server):
        if is_cancelled():
            return ServerUpload(server, ok=False, error=CANCELLED)
        if budget.exhausted():
            log("%s: %s" % (server.label, SKIPPED))
            return ServerUpload(server, ok=False, error=SKIPPED)
        result = _ServerUploader(server, deploy_path, version, manifest, settings, packer,
                                 log, is_cancelled).run()
        if not result.ok and result.error != CANCELLED:
            budget.failed()
        elif result.ok and on_server_ready is not None:
            try:
                on_server_ready(result)
            except Exception:  # the release is there; a reporting bug must not undo it
                logger.exception("on_server_ready failed for %s", server.label)
        return result

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, servers))


class _Budget:
    def __init__(self, max_failures):
        self.max_failures = max_failures
        self.failures = 0
        self.lock = threading.Lock()

    def failed(self):
        with self.lock:
            self.failures += 1

    def exhausted(self):
        with self.lock:
            return self.failures > self.max_failures


class _ServerUploader:
    """The steps of one server's upload."""

    def __init__(self, server, deploy_path, version, manifest, settings, packer, log,
                 is_cancelled):
        self.server, self.label = server, server.label
        self.deploy_path, self.version, self.manifest = deploy_path, version, manifest
        self.settings, self.packer = settings, packer
        self.log, self.is_cancelled = log, is_cancelled
        self.result = ServerUpload(server, ok=False)
        self.session = self.staging = None

    def check(self):
        if self.is_cancelled():
            raise _Cancelled()

    def run(self):
        try:
            with connect(self.server, self.settings) as self.session:
                try:
                    self.upload()
                except BaseException:
                    self.remove_staging()
                    raise
        except _Cancelled:
            self.result.error = CANCELLED
            self.log("%s: upload cancelled" % self.label)
        except SshError as exc:
            self.result.error = exc.message if exc.server_label == self.label else str(exc)
            self.log("%s: upload failed: %s" % (self.label, self.result.error))
        except Exception as exc:  # a bug or a local problem (e.g. packing): still per server
            logger.exception("upload to %s failed", self.label)
            self.result.error = "%s: %s" % (type(exc).__name__, exc)
            self.log("%s: upload failed: %s" % (self.label, self.result.error))
        return self.result

    def upload(self):
        s = self.session
        self.dp = s.abs(self.deploy_path)
        self.releases = posixpath.join(self.dp, "releases")
        self.target = posixpath.join(self.releases, self.version)
        self.check()
        s.makedirs(self.releases)
        s.makedirs(posixpath.join(self.dp, "shared"))
        self.refuse_live()
        seed_version, seed = self.find_seed()
        try:
            pack = self.transfer(seed_version, seed)
        except SshError as exc:
            if seed_version is None:
                raise
            # a drifted or unlinkable seed must not block the deploy for good
            self.log("%s: seeded upload failed (%s); retrying as a full upload"
                     % (self.label, exc.message))
            self.remove_staging()
            seed_version = None
            pack = self.transfer(None, None)
        self.publish()
        self.result.ok = True
        self.result.manifest_sha256 = self.manifest.sha256
        self.result.files_sent, self.result.bytes_sent = pack.files, pack.size
        self.result.seeded_from = seed_version
        self.log("%s: release %s is ready at %s" % (self.label, self.version, self.target))

    def transfer(self, seed_version, seed):
        """Stage and verify the release (seeded from ``seed_version`` if given)."""
        self.check()
        try:
            pack = self.packer.pack_for(seed)
        except (OSError, BadTree) as exc:
            raise SshError(self.label, "packing the upload failed: %s" % exc) from None
        self.check()
        total = len(self.manifest.files)
        if seed_version:
            self.log("%s: seeded from %s (hard links); %d of %d files differ from it, "
                     "sending them in a %s archive" % (
                         self.label, seed_version, pack.files, total, human_size(pack.size)))
        else:
            self.log("%s: full upload (no earlier release there), sending %d file%s "
                     "in a %s archive" % (self.label, pack.files,
                                          "" if pack.files == 1 else "s", human_size(pack.size)))
        self.stage(seed_version, pack)
        self.check()
        self.verify()
        self.check()
        return pack

    def current_release(self):
        """The absolute path ``current`` points to, or None."""
        s = self.session
        link = posixpath.join(self.dp, "current")
        attrs = s.lstat(link)
        if attrs is None or not stat.S_ISLNK(attrs.st_mode):
            return None
        with s.errors("cannot read %s" % link):
            target = s.sftp.readlink(link)
        return posixpath.normpath(posixpath.join(self.dp, target))

    def refuse_live(self):
        if self.current_release() == self.target:
            raise SshError(self.label, "release %s is the live release (current points to it): "
                           "refusing to replace the live release" % self.version)

    def find_seed(self):
        """``(version, Manifest)`` of the release to hard-link from, or ``(None, None)``."""
        s = self.session
        candidates = []
        current = self.current_release()
        if current and posixpath.dirname(current) == self.releases:
            candidates.append(posixpath.basename(current))
        with s.errors("cannot list %s" % self.releases):
            listing = s.sftp.listdir_attr(self.releases)
        others = [a.filename for a in listing
                  if stat.S_ISDIR(a.st_mode) and _is_version(a.filename)]
        candidates += sorted(others, key=version_key, reverse=True)
        for candidate in candidates:
            if candidate == self.version or not _is_version(candidate):
                continue
            seed = self.read_manifest(posixpath.join(self.releases, candidate))
            if seed is not None:
                return candidate, seed
        return None, None

    def read_manifest(self, release):
        s = self.session
        attrs = s.lstat(release)
        if attrs is None or not stat.S_ISDIR(attrs.st_mode):
            return None
        path = posixpath.join(release, MANIFEST_JSON)
        with s.errors("cannot read %s" % path):
            try:
                with s.sftp.open(path, "r") as handle:
                    text = handle.read().decode("utf-8")
            except FileNotFoundError:
                return None
        try:
            seed = Manifest.from_json(text)
        except (ValueError, TypeError, KeyError, BadTree) as exc:
            self.log("%s: ignoring unreadable manifest %s: %s" % (self.label, path, exc))
            return None
        if not all(_safe_relpath(p) for p in seed.entries):
            self.log("%s: ignoring manifest %s with unsafe paths" % (self.label, path))
            return None
        return seed

    def stage(self, seed_version, pack):
        s, q = self.session, shlex.quote
        staging = posixpath.join(self.releases, ".%s.partial-%s" % (
            self.version, secrets.token_hex(6)))
        with s.errors("cannot create the staging directory %s" % staging):
            s.sftp.mkdir(staging)
        self.staging = staging
        if seed_version:
            # hard-link the seed, then delete what changes (before extracting: new inodes)
            doomed = list(pack.delta.remove) + list(MANIFEST_FILES)
            s.run_checked("cp -al -- %s/. %s/ && cd %s && xargs -0 -r rm -rf --" % (
                q(posixpath.join(self.releases, seed_version)), q(staging), q(staging)),
                stdin="".join("./%s\0" % p for p in doomed),
                doing="hard-linking release %s into the staging directory" % seed_version)
            self.check()
        status, output = s.send_file(
            "tar -x -f - -C %s --no-same-owner --preserve-permissions" % q(staging), pack.path)
        if status != 0:
            raise SshError(self.label, "extracting the upload failed (exit %s): %s"
                           % (status, output.strip()[-2000:] or "no output"))

    def verify(self):
        s, q = self.session, shlex.quote
        files = len(self.manifest.files)
        links = sum(1 for e in self.manifest.entries.values() if e.type == "l")
        check = ("sha256sum --quiet --strict -c %s && " % MANIFEST_SHA256) if files else ""
        status, output = s.run(
            "cd %s && %secho \"count $(find . -type f | wc -l) $(find . -type l | wc -l)\""
            % (q(self.staging), check))
        if status != 0:
            raise SshError(self.label, "verification failed: the uploaded files do not match "
                           "the manifest: %s" % (_first_lines(output) or "exit %s" % status))
        counts = output.strip().splitlines()[-1].split() if output.strip() else []
        if counts != ["count", str(files + 2), str(links)]:
            raise SshError(self.label, "verification failed: expected %d files and %d symlinks "
                           "(manifest + 2 manifest files), found %s" % (
                               files + 2, links, " ".join(counts[1:]) or "nothing"))
        self.log("%s: verified %d files against the manifest" % (self.label, files))

    def publish(self):
        s, q = self.session, shlex.quote
        if s.lstat(self.target) is not None:
            self.refuse_live()
            aside = posixpath.join(self.releases, ".%s.old-%s" % (
                self.version, secrets.token_hex(6)))
            with s.errors("cannot move the earlier upload of %s aside" % self.version):
                s.sftp.posix_rename(self.target, aside)
            s.run_checked("rm -rf -- %s" % q(aside),
                          doing="removing the earlier upload of %s" % self.version)
            self.log("%s: replaced the earlier upload of %s" % (self.label, self.version))
        with s.errors("cannot publish %s" % self.target):
            s.sftp.posix_rename(self.staging, self.target)  # rename(2): appears at once
        self.staging = None

    def remove_staging(self):
        if self.staging and self.session.active:
            try:
                self.session.run("rm -rf -- %s" % shlex.quote(self.staging))
            except SshError as exc:
                self.log("%s: could not remove %s: %s" % (self.label, self.staging, exc.message))
        self.staging = None


def _is_version(name):
    try:
        names.check_version(name)
    except names.InvalidName:
        return False
    return True


def _safe_relpath(path):
    parts = path.split("/")
    return (bool(path) and not path.startswith("/") and "\0" not in path
            and all(p not in ("", ".", "..") for p in parts))


def _first_lines(output, lines=10):
    return "; ".join(output.strip().splitlines()[:lines])
