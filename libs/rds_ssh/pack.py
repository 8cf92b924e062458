"""Packing a release once per group of servers.

Servers whose seed release has the same manifest need the same difference,
so :class:`Packer` builds one uncompressed PAX tar per seed manifest (``None``:
a full upload) in the work directory and hands the same file to every server
of that group ("pack once, send to many"). The first worker that needs a
group packs it while holding that group's lock; the others wait and reuse the
file (or the error).

A tar holds the paths of :func:`rds_core.manifest.plan_delta` (regular files,
symlinks and directories, described from the manifest: mode, link target;
file content from the built tree; owners zeroed) plus the two manifest files.
Hard links in the built tree are stored as separate regular files, so every
member extracts on its own.
"""
import hashlib
import io
import os
import tarfile
import threading
import time
from dataclasses import dataclass

from rds_core.manifest import MANIFEST_JSON, MANIFEST_SHA256, plan_delta

MANIFEST_MODE = 0o644


@dataclass(frozen=True)
class Pack:
    """One packed difference: the tar, what it holds, and what to delete first."""

    path: str
    delta: object  # rds_core.manifest.Delta
    files: int
    size: int


def human_size(size):
    """Bytes as a short human string, e.g. ``12.3 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (size, unit)
        size /= 1024.0


def _tarinfo(name, kind, mode, mtime=0, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size = kind, mode, mtime, size
    info.linkname = linkname
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar(out_path, tree_root, manifest, delta):
    """Write the tar of ``delta.send`` from ``tree_root`` plus the manifest files."""
    now = int(time.time())
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in delta.send:
            entry = manifest.entries[path]
            full = os.path.join(tree_root, path)
            if entry.type == "d":
                tar.addfile(_tarinfo(path, tarfile.DIRTYPE, entry.mode,
                                     int(os.lstat(full).st_mtime)))
            elif entry.type == "l":
                tar.addfile(_tarinfo(path, tarfile.SYMTYPE, 0o777, now,
                                     linkname=entry.target))
            else:
                with open(full, "rb") as handle:
                    st = os.fstat(handle.fileno())
                    tar.addfile(_tarinfo(path, tarfile.REGTYPE, entry.mode,
                                         int(st.st_mtime), st.st_size), handle)
            time.sleep(0)  # let other green threads run while packing big trees
        for name, text in ((MANIFEST_JSON, manifest.to_json()),
                           (MANIFEST_SHA256, manifest.sha256sum_text())):
            data = text.encode()
            tar.addfile(_tarinfo(name, tarfile.REGTYPE, MANIFEST_MODE, now, len(data)),
                        io.BytesIO(data))


class Packer:
    """Builds (once) and caches one tar per seed manifest for one upload."""

    def __init__(self, tree_root, manifest, work_dir, version):
        self.tree_root = tree_root
        self.manifest = manifest
        self.work_dir = work_dir
        self.version = version
        self._lock = threading.Lock()
        self._group_locks = {}
        self._packs = {}

    def pack_for(self, seed):
        """The :class:`Pack` turning release ``seed`` (a Manifest or None) into ours."""
        key = seed.sha256 if seed is not None else None
        with self._lock:
            group_lock = self._group_locks.setdefault(key, threading.Lock())
        with group_lock:
            if key not in self._packs:
                try:
                    self._packs[key] = self._build(seed, key)
                except Exception as exc:  # remembered: the group's other servers fail alike
                    self._packs[key] = exc
            result = self._packs[key]
        if isinstance(result, Exception):
            raise result
        return result

    def _build(self, seed, key):
        delta = plan_delta(self.manifest, seed)
        name = "upload-%s-%s.tar" % (self.version, key[:16] if key else "full")
        path = os.path.join(self.work_dir, name)
        os.makedirs(self.work_dir, exist_ok=True)
        partial = "%s.%s.partial" % (path, hashlib.sha256(os.urandom(8)).hexdigest()[:8])
        try:
            write_tar(partial, self.tree_root, self.manifest, delta)
            os.replace(partial, path)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        files = sum(1 for p in delta.send if self.manifest.entries[p].type == "f")
        return Pack(path=path, delta=delta, files=files, size=os.path.getsize(path))
