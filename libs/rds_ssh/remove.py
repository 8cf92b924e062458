"""Removing a release from every server, and reading what the servers hold.

:func:`remove_release`, per server (in parallel, at most ``concurrency``):

1. read ``<dp>/current``; if it points at the release, refuse: whatever the
   database says, that server serves it (reported as drift, never removed);
2. if ``<dp>/releases/<version>`` is already gone, the server is done
   (removal is idempotent);
3. rename it to ``releases/.<version>.removing-<random>`` (rename(2): the
   release disappears at once, never half-deleted under its own name), read
   ``current`` again (an activation may have raced the check: then rename it
   back and refuse), and ``rm -rf`` the renamed directory.

:func:`check_not_live` does step 1 alone (before a project's own ``remove``
script runs instead of the built-in removal).

:func:`inspect` reads ``current`` and lists ``releases/`` in one remote
command (names with their inode change time, by the server's clock), and
removes staging directories of interrupted uploads (``.<v>.partial-*``, and
``.<v>.old-*``/``.<v>.removing-*`` left by an interrupted publish or
removal) older than ``sweep_older_than`` seconds. The change time (ctime) is
used, not the modification time: ``cp -a`` copies an old release's mtime
onto a fresh staging directory, but nothing can set a ctime back.

Every path is built from a checked deploy path and version and quoted with
:func:`shlex.quote`. Uses only the public helpers of ``rds_ssh.connection``.
"""
import logging
import posixpath
import re
import secrets
import shlex
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rds_core import names
from rds_ssh.connection import SshSession, SshSettings, connect
from rds_ssh.errors import SshError

logger = logging.getLogger(__name__)

#: rds's own hidden directories in ``releases/``: upload staging, a replaced
#: upload moved aside, a removal in progress.
STAGING_RE = re.compile(r"^\.(?P<version>[0-9.]+)\.(?:partial|old|removing)-[0-9a-f]+$")

Log = Callable[[str], None]


def _log_to_logger(text: str) -> None:
    logger.info("%s", text)


@dataclass
class ServerRemoval:
    """One server's outcome of a removal."""

    server: Any  # rds_contracts.base.ServerSpec
    ok: bool = False
    removed: bool = False
    current: str | None = None
    drift: bool = False
    error: str | None = None


@dataclass
class Inventory:
    """What one server holds: ``current`` and the entries of ``releases/``."""

    server: Any  # rds_contracts.base.ServerSpec
    ok: bool = False
    error: str | None = None
    current: str | None = None
    releases: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any], concurrency: int) -> list[Any]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return list(pool.map(fn, items))


def _message(server: Any, exc: SshError) -> str:
    return exc.message if exc.server_label == server.label else str(exc)


def read_link(session: SshSession, path: str) -> str | None:
    """Target of the symlink ``path``; None if missing; SshError if not a symlink."""
    attrs = session.lstat(path)
    if attrs is None:
        return None
    if not stat.S_ISLNK(attrs.st_mode):
        raise SshError(session.label, "%s is not a symlink (a real directory or file?): "
                       "cannot tell which release it serves" % path)
    with session.errors("cannot read %s" % path):
        return session.sftp.readlink(path)


def points_at(current: str | None, deploy_path: str, version: str) -> bool:
    """Whether a ``current`` target (relative to the deploy path, or absolute) is the release."""
    if not current:
        return False
    target = posixpath.normpath(posixpath.join(deploy_path, current))
    return target == posixpath.normpath(posixpath.join(deploy_path, "releases", version))


def _current_of(session: SshSession, dp: str) -> str | None:
    return read_link(session, posixpath.join(dp, "current"))


def _refusal(result: ServerRemoval, version: str) -> ServerRemoval:
    result.ok, result.drift = False, True
    result.error = ("current points at %s here: not removed (rds does not think it is live "
                    "on this server: drift)" % version)
    return result


def _remove_one(server: Any, deploy_path: str, version: str, settings: SshSettings,
                log: Log) -> ServerRemoval:
    result = ServerRemoval(server)
    try:
        with connect(server, settings) as session:
            dp = session.abs(deploy_path)
            release = posixpath.join(dp, "releases", version)
            result.current = _current_of(session, dp)
            if points_at(result.current, dp, version):
                return _refusal(result, version)
            if session.lstat(release) is None:
                result.ok = True
                log("%s: %s is not there (already removed)" % (server.label, version))
                return result
            aside = posixpath.join(dp, "releases", ".%s.removing-%s" % (
                version, secrets.token_hex(6)))
            with session.errors("cannot move %s aside" % release):
                session.sftp.posix_rename(release, aside)
            result.current = _current_of(session, dp)
            if points_at(result.current, dp, version):  # switched to it meanwhile
                with session.errors("cannot move %s back" % release):
                    session.sftp.posix_rename(aside, release)
                return _refusal(result, version)
            session.run_checked("rm -rf -- %s" % shlex.quote(aside),
                                doing="removing %s" % release)
            result.ok = result.removed = True
            log("%s: removed %s" % (server.label, version))
    except SshError as exc:
        result.ok, result.error = False, _message(server, exc)
        log("%s: could not remove %s: %s" % (server.label, version, result.error))
    return result


def remove_release(servers: Sequence[Any], deploy_path: str, version: str,
                   settings: SshSettings, concurrency: int = 16,
                   log: Log = _log_to_logger) -> list[ServerRemoval]:
    """Remove ``releases/<version>`` from every server; one ServerRemoval each.

    Raises ``rds_core.names.InvalidName`` for a bad deploy path or version
    before connecting anywhere.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)
    return _parallel(lambda s: _remove_one(s, deploy_path, version, settings, log),
                     list(servers), concurrency)


def check_not_live(servers: Sequence[Any], deploy_path: str, version: str,
                   settings: SshSettings, concurrency: int = 16) -> list[ServerRemoval]:
    """Per server: ok when ``current`` does not point at ``version`` (drift when it does)."""
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)

    def one(server: Any) -> ServerRemoval:
        result = ServerRemoval(server)
        try:
            with connect(server, settings) as session:
                dp = session.abs(deploy_path)
                result.current = _current_of(session, dp)
                if points_at(result.current, dp, version):
                    return _refusal(result, version)
                result.ok = True
        except SshError as exc:
            result.error = _message(server, exc)
        return result

    return _parallel(one, list(servers), concurrency)


_LIST = ("cd %s 2>/dev/null || exit 0; date +%%s.%%N; "
         "find . -mindepth 1 -maxdepth 1 -printf '%%y %%C@ %%f\\0'")


def _inspect_one(server: Any, deploy_path: str, settings: SshSettings,
                 sweep_older_than: float | None, now: float | None, log: Log) -> Inventory:
    result = Inventory(server)
    try:
        with connect(server, settings) as session:
            dp = session.abs(deploy_path)
            releases_dir = posixpath.join(dp, "releases")
            result.current = _current_of(session, dp)
            output = session.run_checked(_LIST % shlex.quote(releases_dir),
                                         doing="listing %s" % releases_dir)
            head, _, listing = output.partition("\n")
            server_now = float(head) if head.strip() else 0.0
            doomed = []
            for entry in filter(None, listing.split("\0")):
                kind, changed, name = entry.split(" ", 2)
                if STAGING_RE.match(name):
                    age = (now if now is not None else server_now) - float(changed)
                    if sweep_older_than is not None and age > sweep_older_than:
                        doomed.append(name)
                    else:
                        result.staging.append(name)
                elif kind == "d" and names.VERSION_RE.fullmatch(name):
                    result.releases.append(name)
                else:
                    result.unknown.append(name)
            if doomed:
                session.run_checked("cd %s && rm -rf -- %s" % (
                    shlex.quote(releases_dir), " ".join(shlex.quote(n) for n in doomed)),
                    doing="removing old staging directories")
                result.swept = doomed
                log("%s: removed %d leftover staging director%s: %s" % (
                    server.label, len(doomed), "y" if len(doomed) == 1 else "ies",
                    ", ".join(doomed)))
            result.ok = True
    except (SshError, ValueError) as exc:
        result.error = (_message(server, exc) if isinstance(exc, SshError)
                        else "unexpected listing from the server: %s" % exc)
        log("%s: inspection failed: %s" % (server.label, result.error))
    for entries in (result.releases, result.unknown, result.staging):
        entries.sort()
    return result


def inspect(servers: Sequence[Any], deploy_path: str, settings: SshSettings,
            sweep_older_than: float | None = None, now: float | None = None,
            concurrency: int = 16, log: Log = _log_to_logger) -> list[Inventory]:
    """Read ``current`` and ``releases/`` of every server; sweep old staging directories.

    ``now`` (seconds since the epoch) replaces the server's clock when
    judging the age of staging directories (tests inject it).
    """
    deploy_path = names.check_deploy_path(deploy_path)
    return _parallel(lambda s: _inspect_one(s, deploy_path, settings, sweep_older_than, now,
                                            log), list(servers), concurrency)
