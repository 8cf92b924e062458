"""Packing a release once per group of servers, streamed while it is packed.

Servers whose seed release has the same manifest need the same difference,
so :class:`Packer` makes one payload per seed manifest (``None``: a full
upload) and hands it to every server of that group ("pack once, send to
many"). Two payload kinds:

* a **tar stream** (:meth:`Packer.stream_for`): a background thread writes
  the PAX tar of :func:`rds_core.manifest.plan_delta`'s paths, optionally
  compressed, into a :class:`Spool`, a file in the work directory that every
  server of the group reads *while it is being written*: the first byte goes
  out as soon as it is packed, a slow server never holds up a fast one, and a
  server that starts late reads what is already there;
* a **send tree** (:meth:`Packer.tree_for`): the same paths as hard links
  into the built tree plus the two manifest files, for ``rsync`` to send as
  block-level deltas against the seed on the server.

Compression is chosen by measurement (:func:`choose_codec`): a sample of what
is about to be sent is compressed with zstd and gzip at level 1 and timed;
the codec with the lowest estimated cost (compressing once, sending the
result to every server of the group at :data:`WIRE_BYTES_PER_SECOND`) wins,
and "none" wins for data that does not compress (media, archives).

A tar member is described from the manifest (mode, link target; owners
zeroed), its content read from the built tree. Hard links in the built tree
are stored as separate regular files, so every member extracts on its own.
"""
import gzip
import io
import os
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, BinaryIO, TypeVar, cast

from rds_core.manifest import MANIFEST_JSON, MANIFEST_SHA256, Delta, Manifest, plan_delta

if TYPE_CHECKING:
    from typing_extensions import Buffer

try:  # optional: without it zstd is never chosen
    import zstandard
except ImportError:  # pragma: no cover - pinned in requirements.txt
    zstandard = None  # type: ignore[assignment]  # checked with `is not None` before use

T = TypeVar("T")
MANIFEST_MODE = 0o644
CHUNK = 1024 * 1024
SAMPLE_BYTES = 4 * 1024 * 1024
#: What one byte on the wire costs when choosing compression (~1 Gbit/s per server).
WIRE_BYTES_PER_SECOND = 125e6


class Codec(StrEnum):
    """How a tar stream is compressed (the server decompresses with GNU tar)."""

    NONE = "none"
    ZSTD = "zstd"
    GZIP = "gzip"

    @property
    def tar_flag(self) -> str:
        return {Codec.NONE: "", Codec.ZSTD: "--zstd", Codec.GZIP: "--gzip"}[self]

    @property
    def suffix(self) -> str:
        return {Codec.NONE: "", Codec.ZSTD: ".zst", Codec.GZIP: ".gz"}[self]


@dataclass(frozen=True)
class Measured:
    """The outcome of :func:`choose_codec`: the codec and the sample's ratio."""

    codec: Codec
    ratio: float  # compressed/original of the sample with that codec (1.0 for none)

    def describe(self) -> str:
        if self.codec is Codec.NONE:
            return "uncompressed"
        return "%s (%.0f%% of the size)" % (self.codec, self.ratio * 100)


def human_size(size: float) -> str:
    """Bytes as a short human string, e.g. ``12.3 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (size, unit)
        size /= 1024.0
    return "%d B" % size  # not reached


def _sample(tree_root: str, manifest: Manifest, paths: tuple[str, ...]) -> bytes:
    files = [p for p in paths if manifest.entries[p].type == "f"]
    if not files:
        return b""
    step = max(1, len(files) // 64)  # spread over the tree, not just its first directory
    parts, total = [], 0
    for path in files[::step]:
        with open(os.path.join(tree_root, path), "rb") as handle:
            data = handle.read(min(256 * 1024, SAMPLE_BYTES - total))
        parts.append(data)
        total += len(data)
        if total >= SAMPLE_BYTES:
            break
    return b"".join(parts)


def choose_codec(sample: bytes, servers: int, zstd_on_server: bool) -> Measured:
    """The cheapest way to send data like ``sample`` to ``servers`` servers (measured)."""
    if len(sample) < 4096:
        return Measured(Codec.NONE, 1.0)
    wire = servers / WIRE_BYTES_PER_SECOND  # seconds per byte sent, for the whole group
    best, best_cost = Measured(Codec.NONE, 1.0), wire
    candidates = [(Codec.GZIP, lambda data: zlib.compress(data, 1))]
    if zstd_on_server and zstandard is not None:
        compressor = zstandard.ZstdCompressor(level=1)
        candidates.insert(0, (Codec.ZSTD, compressor.compress))
    for codec, compress in candidates:
        compress(sample[:65536])  # warm up: the first call pays for setting up the codec
        started = time.thread_time()  # CPU time: other threads and the load do not count
        size = len(compress(sample))
        seconds = time.thread_time() - started
        ratio = size / len(sample)
        cost = seconds / len(sample) + ratio * wire
        if cost < best_cost * 0.9:  # a clear win only: compression costs CPU on both ends
            best, best_cost = Measured(codec, ratio), cost
    return best


class Spool:
    """A file one producer appends to while any number of readers follow it."""

    def __init__(self, path: str):
        self.path = path
        self._handle: BinaryIO = open(path, "wb")
        self._cond = threading.Condition()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None

    def append(self, data: bytes) -> None:
        self._handle.write(data)
        self._handle.flush()
        with self._cond:
            self._size += len(data)
            self._cond.notify_all()
        time.sleep(0)  # let the readers (green threads under eventlet) send it

    def finish(self, error: BaseException | None = None) -> None:
        self._handle.close()
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()

    @property
    def size(self) -> int | None:
        """Final size, None while the producer is still writing."""
        with self._cond:
            return self._size if self._done else None

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """Everything the producer writes, from the start, as it arrives."""
        with open(self.path, "rb") as handle:
            offset = 0
            while True:
                with self._cond:
                    while self._size <= offset and not self._done:
                        self._cond.wait()
                    available, done, error = self._size, self._done, self._error
                if error is not None:
                    raise error
                if available <= offset and done:
                    return
                while offset < available:
                    data = handle.read(min(size, available - offset))
                    offset += len(data)
                    yield data


class _SpoolWriter(io.RawIOBase):
    """Collects writes into 1 MiB appends to a :class:`Spool`."""

    def __init__(self, spool: Spool):
        self.spool = spool
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: "Buffer") -> int:
        view = memoryview(data)
        self.buffer += view
        if len(self.buffer) >= CHUNK:
            self.flush()
        return view.nbytes

    def flush(self) -> None:
        if self.buffer:
            self.spool.append(bytes(self.buffer))
            self.buffer.clear()


def _tarinfo(name: str, kind: bytes, mode: int, mtime: int = 0, size: int = 0,
             linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size = kind, mode, mtime, size
    info.linkname = linkname
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar(out: BinaryIO | io.RawIOBase | io.BufferedIOBase, tree_root: str,
              manifest: Manifest, delta: Delta) -> None:
    """Stream the tar of ``delta.send`` from ``tree_root`` plus the manifest files to ``out``."""
    now = int(time.time())
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in delta.send:
            entry = manifest.entries[path]
            full = os.path.join(tree_root, path)
            if entry.type == "d":
                tar.addfile(_tarinfo(path, tarfile.DIRTYPE, entry.mode,
                                     int(os.lstat(full).st_mtime)))
            elif entry.type == "l":
                tar.addfile(_tarinfo(path, tarfile.SYMTYPE, 0o777, now,
                                     linkname=entry.target or ""))
            else:
                with open(full, "rb") as handle:
                    st = os.fstat(handle.fileno())
                    tar.addfile(_tarinfo(path, tarfile.REGTYPE, entry.mode,
                                         int(st.st_mtime), st.st_size), handle)
        for name, text in ((MANIFEST_JSON, manifest.to_json()),
                           (MANIFEST_SHA256, manifest.sha256sum_text())):
            data = text.encode()
            tar.addfile(_tarinfo(name, tarfile.REGTYPE, MANIFEST_MODE, now, len(data)),
                        io.BytesIO(data))


@dataclass(frozen=True)
class Stream:
    """One packed difference as a tar stream: what it holds and how to read it."""

    spool: Spool
    delta: Delta
    files: int  # regular files sent (the manifest files not counted)
    measured: Measured


@dataclass(frozen=True)
class SendTree:
    """One difference as a directory of hard links, for rsync."""

    path: str
    delta: Delta
    files: int


def _files(manifest: Manifest, delta: Delta) -> int:
    return sum(1 for p in delta.send if manifest.entries[p].type == "f")


class Packer:
    """Makes (once) and keeps one payload per seed manifest for one upload."""

    def __init__(self, tree_root: str, manifest: Manifest, work_dir: str, version: str,
                 servers: int = 1):
        self.tree_root = tree_root
        self.manifest = manifest
        self.work_dir = work_dir
        self.version = version
        self.servers = max(1, servers)
        self._lock = threading.Lock()
        self._group_locks: dict[tuple[object, ...], threading.Lock] = {}
        self._made: dict[tuple[object, ...], object] = {}

    def _once(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        with self._lock:
            group_lock = self._group_locks.setdefault(key, threading.Lock())
        with group_lock:
            if key not in self._made:
                try:
                    self._made[key] = make()
                except Exception as exc:  # remembered: the group's other servers fail alike
                    self._made[key] = exc
            result = self._made[key]
        if isinstance(result, Exception):
            raise result
        return cast(T, result)

    def _name(self, seed: Manifest | None) -> str:
        return "upload-%s-%s" % (self.version, seed.sha256[:16] if seed else "full")

    def delta(self, seed: Manifest | None) -> Delta:
        """What turns release ``seed`` (None: nothing) into ours (computed once)."""
        return self._once(("delta", seed.sha256 if seed else None),
                          lambda: plan_delta(self.manifest, seed))

    def measure(self, seed: Manifest | None, zstd_on_server: bool) -> Measured:
        """The codec for the difference from ``seed`` (measured once per group)."""
        def measure() -> Measured:
            sample = _sample(self.tree_root, self.manifest, self.delta(seed).send)
            return choose_codec(sample, self.servers, zstd_on_server)
        return self._once(("measure", seed.sha256 if seed else None, zstd_on_server), measure)

    def stream_for(self, seed: Manifest | None, zstd_on_server: bool) -> Stream:
        """The tar stream from ``seed`` to ours; packing starts on the first call."""
        measured = self.measure(seed, zstd_on_server)
        key = ("stream", seed.sha256 if seed else None, measured.codec)
        return self._once(key, lambda: self._start(seed, measured))

    def _start(self, seed: Manifest | None, measured: Measured) -> Stream:
        delta = self.delta(seed)
        os.makedirs(self.work_dir, exist_ok=True)
        spool = Spool(os.path.join(self.work_dir, "%s.tar%s" % (
            self._name(seed), measured.codec.suffix)))

        def produce() -> None:
            raw = _SpoolWriter(spool)
            out: BinaryIO | io.RawIOBase | io.BufferedIOBase
            try:
                if measured.codec is Codec.ZSTD:
                    # the writer only calls write/flush, which _SpoolWriter has
                    out = zstandard.ZstdCompressor(level=1).stream_writer(
                        cast(BinaryIO, raw), closefd=False)
                elif measured.codec is Codec.GZIP:
                    out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)
                else:
                    out = raw
                write_tar(out, self.tree_root, self.manifest, delta)
                if out is not raw:
                    out.close()
                raw.flush()
            except BaseException as exc:
                spool.finish(exc)
                return
            spool.finish()

        threading.Thread(target=produce, name="pack-%s" % self._name(seed), daemon=True).start()
        return Stream(spool=spool, delta=delta, files=_files(self.manifest, delta),
                      measured=measured)

    def tree_for(self, seed: Manifest) -> SendTree:
        """The send tree from ``seed`` to ours (made once, blocking)."""
        return self._once(("tree", seed.sha256), lambda: self._make_tree(seed))

    def _make_tree(self, seed: Manifest) -> SendTree:
        delta = self.delta(seed)
        root = os.path.join(self.work_dir, "%s.d" % self._name(seed))
        os.makedirs(root, mode=0o755)
        os.chmod(root, 0o755)
        for path in delta.send:
            entry = self.manifest.entries[path]
            full, source = os.path.join(root, path), os.path.join(self.tree_root, path)
            parent = os.path.dirname(path)
            if parent and not os.path.isdir(os.path.dirname(full)):
                os.makedirs(os.path.dirname(full))
            if entry.type == "d":
                os.makedirs(full, exist_ok=True)
            elif entry.type == "l":
                os.symlink(entry.target or "", full)
            else:
                try:
                    os.link(source, full)
                except OSError:  # another filesystem: copy instead
                    with open(source, "rb") as src, open(full, "wb") as dst:
                        while chunk := src.read(CHUNK):
                            dst.write(chunk)
                os.chmod(full, entry.mode)
        # parents created on the way keep the release's modes (rsync -p applies them)
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                made = self.manifest.entries.get(rel)
                if made is not None and made.type == "d":
                    os.chmod(os.path.join(dirpath, name), made.mode)
        for name, text in ((MANIFEST_JSON, self.manifest.to_json()),
                           (MANIFEST_SHA256, self.manifest.sha256sum_text())):
            with open(os.path.join(root, name), "w") as handle:
                handle.write(text)
            os.chmod(os.path.join(root, name), MANIFEST_MODE)
        return SendTree(path=root, delta=delta, files=_files(self.manifest, delta))
