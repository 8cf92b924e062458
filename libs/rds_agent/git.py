"""A per-agent mirror of each repository, and fresh checkouts from it.

The first build of a repository clones a bare mirror into
``<work_dir>/mirrors/<sha1 of the URL>.git``; later builds only fetch. A
checkout is a ``--shared`` clone of the mirror (no object copying) at the
resolved commit, in a fresh workspace. Concurrent builds on one host take a
file lock per mirror while they touch it.
"""
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rds_core.names import check_git_ref, check_repository


class GitError(Exception):
    pass


def _git(args: list[str], cwd: str | None = None,
         output: Callable[[str], None] | None = None) -> str:
    process = subprocess.run(["git", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C"))
    text = process.stdout.decode("utf-8", "replace")
    if output is not None and text:
        output(text)
    if process.returncode != 0:
        raise GitError("git %s failed (%d): %s" % (args[0], process.returncode,
                                                   text.strip()[-2000:]))
    return text


@contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive flock that waits without blocking other green threads."""
    with open(path, "a") as handle:
        waiter = threading.Event()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                waiter.wait(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Mirrors:
    def __init__(self, work_dir: str) -> None:
        self.root = os.path.join(work_dir, "mirrors")
        os.makedirs(self.root, exist_ok=True)

    def path(self, repository: str) -> str:
        return os.path.join(self.root, hashlib.sha1(repository.encode()).hexdigest() + ".git")

    def update(self, repository: str, output: Callable[[str], None]) -> str:
        """Clone the mirror on first use, fetch afterwards; returns its path."""
        check_repository(repository)
        mirror = self.path(repository)
        with _locked(mirror + ".lock"):
            if os.path.isdir(os.path.join(mirror, "objects")):
                output("Updating mirror of %s\n" % repository)
                _git(["--git-dir", mirror, "remote", "set-url", "origin", repository])
                _git(["--git-dir", mirror, "fetch", "--prune", "--tags", "--force", "origin",
                      "+refs/heads/*:refs/heads/*"], output=output)
            else:
                output("Cloning mirror of %s\n" % repository)
                shutil.rmtree(mirror, ignore_errors=True)
                _git(["clone", "--mirror", "--quiet", "--", repository, mirror], output=output)
        return mirror

    def resolve(self, repository: str, ref: str) -> str:
        """The full commit sha ``ref`` names in the mirror."""
        check_git_ref(ref)
        mirror = self.path(repository)
        try:
            return _git(["--git-dir", mirror, "rev-parse", "--verify", "--quiet",
                         "--end-of-options", ref + "^{commit}"]).strip()
        except GitError:
            raise GitError("ref %r does not name a commit in %s" % (ref, repository)) from None

    def checkout(self, repository: str, commit: str, workspace: str,
                 output: Callable[[str], None]) -> str:
        """A fresh working tree of ``commit`` at ``workspace``."""
        mirror = self.path(repository)
        shutil.rmtree(workspace, ignore_errors=True)
        os.makedirs(os.path.dirname(workspace), exist_ok=True)
        with _locked(mirror + ".lock"):
            _git(["clone", "--quiet", "--shared", "--no-checkout", "--", mirror, workspace])
        _git(["checkout", "--quiet", "--detach", commit], cwd=workspace, output=output)
        return workspace
