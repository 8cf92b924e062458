"""Release manifests: what a release contains, with content hashes.

A manifest lists every file (SHA-256, size, mode), symlink (target) and
directory of a built tree. It is written into every release on every server
(``.rds-manifest.json`` for rds, ``.rds-manifest.sha256`` in ``sha256sum``
format so the server can verify the files with standard tools), and it is
how the upload computes what a server is missing.

A :class:`Manifest` is immutable once built: its canonical JSON, its SHA-256
and its file list are computed once and cached (an upload to 20 servers asks
for them hundreds of times).
"""
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

MANIFEST_JSON = ".rds-manifest.json"
MANIFEST_SHA256 = ".rds-manifest.sha256"
MANIFEST_FILES = (MANIFEST_JSON, MANIFEST_SHA256)
FORMAT = 1
_CHUNK = 1024 * 1024


class BadTree(ValueError):
    """The built tree holds something rds cannot ship safely."""


@dataclass(frozen=True)
class Entry:
    path: str
    type: str  # "f" file, "l" symlink, "d" directory
    mode: int = 0
    size: int = 0
    sha256: str | None = None
    target: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"path": self.path, "type": self.type, "mode": self.mode}
        if self.type == "f":
            data.update(size=self.size, sha256=self.sha256)
        elif self.type == "l":
            data["target"] = self.target
        return data

    def same_content(self, other: "Entry | None") -> bool:
        return (other is not None and self.type == other.type and self.mode == other.mode
                and self.sha256 == other.sha256 and self.target == other.target)


class Manifest:
    """Every entry of a tree by path; immutable (derived values are cached)."""

    def __init__(self, entries: Iterable[Entry]):
        self.entries = {e.path: e for e in entries}

    @cached_property
    def files(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.type == "f"]

    @cached_property
    def links(self) -> int:
        """How many symlinks the tree has."""
        return sum(1 for e in self.entries.values() if e.type == "l")

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.files)

    def to_json(self) -> str:
        """Canonical JSON text (sorted), identical for identical trees."""
        return self._json

    @cached_property
    def _json(self) -> str:
        return json.dumps({"format": FORMAT,
                           "entries": [self.entries[p].to_json() for p in sorted(self.entries)]},
                          sort_keys=True, separators=(",", ":"))

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of :meth:`to_json` (also the hash of the ``.rds-manifest.json`` file)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def sha256sum_text(self) -> str:
        """Lines for ``sha256sum -c``: every regular file, relative to the release."""
        return self._sha256sum_text

    @cached_property
    def _sha256sum_text(self) -> str:
        return sha256sum_lines(self.files)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise BadTree("unsupported manifest format %r" % data.get("format"))
        return cls(Entry(**entry) for entry in data["entries"])


def sha256sum_lines(files: Iterable[Entry]) -> str:
    """``sha256sum -c`` lines (``<hash>  ./<path>``) for ``files``, sorted by path."""
    return "".join("%s  ./%s\n" % (e.sha256, e.path) for e in sorted(files, key=lambda e: e.path))


def _check_name(relpath: str) -> None:
    if "\n" in relpath or "\\" in relpath or "\r" in relpath:
        raise BadTree("file name %r contains a newline or backslash" % relpath)
    if relpath in MANIFEST_FILES:
        raise BadTree("the build output must not contain %s" % relpath)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            time.sleep(0)  # let other green threads run while hashing big trees
    return digest.hexdigest()


def scan_tree(root: str, exclude: tuple[str, ...] = (".git",)) -> Manifest:
    """Build the manifest of a directory tree (top-level names in ``exclude`` skipped)."""
    entries = []
    root = os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in exclude]
            filenames = [f for f in filenames if f not in exclude]
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            relpath = name if rel_dir == "." else rel_dir + "/" + name
            _check_name(relpath)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                entries.append(Entry(relpath, "l", mode=0o777, target=os.readlink(full)))
            elif stat.S_ISDIR(st.st_mode):
                entries.append(Entry(relpath, "d", mode=mode))
            elif stat.S_ISREG(st.st_mode):
                entries.append(Entry(relpath, "f", mode=mode, size=st.st_size,
                                     sha256=file_sha256(full)))
            else:
                raise BadTree("%s is neither a file, a directory nor a symlink" % relpath)
        # symlinks to directories are listed above and not descended into by os.walk
    return Manifest(entries)


@dataclass(frozen=True)
class Delta:
    """What to do to a copy of ``old`` (hard-linked) to make it ``new``."""

    send: tuple[str, ...]   # paths (files, symlinks, dirs) to write from the new tree
    remove: tuple[str, ...]  # paths to delete from the seeded copy first


def plan_delta(new: Manifest, old: Manifest | None) -> Delta:
    """Compare two manifests; ``old`` None means a full upload."""
    if old is None:
        return Delta(send=tuple(sorted(new.entries)), remove=())
    remove = []
    for path, entry in old.entries.items():
        now = new.entries.get(path)
        if now is None or now.type != entry.type or (entry.type != "d" and not
                                                    now.same_content(entry)):
            remove.append(path)
    send = [path for path, entry in new.entries.items()
            if not entry.same_content(old.entries.get(path))]
    # remove children before parents; a removed dir's contents go with it
    remove.sort(key=lambda p: (-p.count("/"), p))
    return Delta(send=tuple(sorted(send)), remove=tuple(remove))
