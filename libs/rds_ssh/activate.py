"""Switching ``current`` to a release on every server, all or nothing.

Phase 1 (parallel, read-only): on each server the release must be uploaded
(``releases/<version>/.rds-manifest.json`` exists) and ``current`` must be
missing or a symlink; its old target is recorded. If any server fails,
nothing is switched anywhere.

Phase 2 (parallel, on the connections of phase 1): each server switches
atomically: a new relative symlink ``releases/<version>`` is created beside
``current`` under a random temporary name and renamed over ``current``
(SFTP ``posix-rename``, i.e. rename(2): at every instant ``current`` points to
the old or the new release, never to nothing; no ``ln -sfn``). ``current`` is
read back and compared.

If any server fails phase 2, :func:`restore` switches every server back to
its previous target the same way (a server that had no ``current`` loses it
again) and reads ``current`` back, so the caller can report exactly what each
server serves. :func:`restore` is public so a failed post-activation hook can
switch back too.
"""
import logging
import posixpath
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from rds_core import names
from rds_core.manifest import MANIFEST_JSON
from rds_ssh.connection import connect
from rds_ssh.errors import SshError

logger = logging.getLogger(__name__)


@dataclass
class ServerActivation:
    """One server: did it switch, from which target, and what ``current`` reads now."""

    server: object  # rds_contracts.base.ServerSpec
    ok: bool
    previous: str | None = None
    current: str | None = None
    error: str | None = None


@dataclass
class Activation:
    """The outcome on all servers."""

    ok: bool
    rolled_back: bool = False
    reason: str | None = None
    results: list = field(default_factory=list)


def _log_to_logger(text):
    logger.info("%s", text)


def _parallel(fn, items, concurrency):
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return list(pool.map(fn, items))


def _message(server, exc):
    if isinstance(exc, SshError) and exc.server_label == server.label:
        return exc.message
    return str(exc) or type(exc).__name__


def _current_target(session, link):
    """Target of the ``current`` symlink, None if missing; refuse anything else."""
    attrs = session.lstat(link)
    if attrs is None:
        return None
    if not stat.S_ISLNK(attrs.st_mode):
        raise SshError(session.label, "%s exists but is not a symlink (a real directory or "
                       "file?): refusing to replace it" % link)
    with session.errors("cannot read %s" % link):
        return session.sftp.readlink(link)


def _switch(session, dp, target):
    """Point ``<dp>/current`` at ``target`` atomically; return the read-back target."""
    link = posixpath.join(dp, "current")
    tmp = posixpath.join(dp, ".current.%s.tmp" % secrets.token_hex(8))
    sftp = session.sftp
    with session.errors("cannot switch %s to %s" % (link, target)):
        sftp.symlink(target, tmp)
        try:
            sftp.posix_rename(tmp, link)
        except BaseException:
            try:
                sftp.remove(tmp)
            except Exception:
                pass
            raise
    return _current_target(session, link)


def _open(server, settings, session):
    if session is not None and session.active:
        return session, False
    return connect(server, settings), True


def _restore_one(server, previous, deploy_path, settings, session=None):
    try:
        session, own = _open(server, settings, session)
    except SshError as exc:
        return ServerActivation(server, ok=False, error=_message(server, exc))
    result = ServerActivation(server, ok=False)
    try:
        dp = session.abs(deploy_path)
        link = posixpath.join(dp, "current")
        result.previous = result.current = before = _current_target(session, link)
        if previous is None:
            if before is not None:
                with session.errors("cannot remove %s" % link):
                    session.sftp.remove(link)
        elif before != previous:
            _switch(session, dp, previous)
        result.current = _current_target(session, link)
        if result.current != previous:
            raise SshError(server.label, "current reads %r after switching back, expected %r"
                           % (result.current, previous))
        result.ok = True
    except SshError as exc:
        result.error = _message(server, exc)
    finally:
        if own:
            session.close()
    return result


def restore(servers_with_previous, deploy_path, settings, concurrency=16, log=_log_to_logger,
            sessions=None):
    """Switch each ``(server, previous_target)`` back; returns one ServerActivation each.

    ``previous_target`` None removes ``current``. In each result ``previous``
    is what ``current`` pointed to before and ``current`` the read-back.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    pairs = list(servers_with_previous)
    sessions = sessions or [None] * len(pairs)

    def one(index):
        server, previous = pairs[index]
        result = _restore_one(server, previous, deploy_path, settings, sessions[index])
        if result.ok:
            log("%s: current -> %s (switched back)" % (server.label, previous or "(none)"))
        else:
            log("%s: switching back failed: %s" % (server.label, result.error))
        return result

    return _parallel(one, range(len(pairs)), concurrency)


def read_current(server, deploy_path, settings):
    """The target of ``<deploy_path>/current`` on ``server``, or None if there is none.

    Raises SshError if the server cannot be reached or ``current`` is not a symlink.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    with connect(server, settings) as session:
        return _current_target(session, posixpath.join(session.abs(deploy_path), "current"))


def activate_release(servers, deploy_path, version, settings, concurrency=16,
                     log=_log_to_logger):
    """Switch ``current`` to ``releases/<version>`` on every server, or on none.

    Returns an :class:`Activation`; raises ``rds_core.names.InvalidName`` for a
    bad deploy path or version before connecting anywhere.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)
    target = posixpath.join("releases", version)
    servers = list(servers)
    sessions = [None] * len(servers)
    try:
        checks = _parallel(lambda i: _check(i, servers[i], deploy_path, version, settings,
                                            sessions), range(len(servers)), concurrency)
        failed = [r for r in checks if not r.ok]
        if failed:
            for r in checks:
                if r.ok:
                    r.ok, r.error = False, "not switched: another server failed the checks"
            for r in failed:
                log("%s: cannot activate %s: %s" % (r.server.label, version, r.error))
            return Activation(ok=False, reason="; ".join(
                "%s: %s" % (r.server.label, r.error) for r in failed), results=checks)

        def switch(index):
            result = checks[index]
            session = sessions[index]
            try:
                result.current = _switch(session, session.abs(deploy_path), target)
                if result.current != target:
                    raise SshError(session.label, "current reads %r after the switch, "
                                   "expected %r" % (result.current, target))
                log("%s: current -> %s (was %s)" % (result.server.label, target,
                                                   result.previous or "(none)"))
            except SshError as exc:
                result.ok, result.error = False, _message(result.server, exc)
                log("%s: switching to %s failed: %s" % (result.server.label, version,
                                                        result.error))
            return result

        results = _parallel(switch, range(len(servers)), concurrency)
        failed = [r for r in results if not r.ok]
        if not failed:
            return Activation(ok=True, results=results)
        reason = "activation of %s failed on %s" % (version, "; ".join(
            "%s: %s" % (r.server.label, r.error) for r in failed))
        restored = restore([(r.server, r.previous) for r in results], deploy_path, settings,
                           concurrency=concurrency, log=log, sessions=sessions)
        for result, back in zip(results, restored):
            result.ok, result.current = False, back.current
            if not back.ok:
                result.error = "%s; switching back failed: %s" % (
                    result.error or "switched", back.error)
            elif result.error is None:
                result.error = "switched back to %s: activation failed on another server" % (
                    result.previous or "(none)")
        not_back = [b for b in restored if not b.ok]
        if not_back:
            reason += "; switching back failed on %s" % ", ".join(
                b.server.label for b in not_back)
        else:
            reason += "; every server was switched back"
        return Activation(ok=False, rolled_back=True, reason=reason, results=results)
    finally:
        for session in sessions:
            if session is not None:
                session.close()


def _check(index, server, deploy_path, version, settings, sessions):
    """Phase 1 on one server: release present, ``current`` replaceable."""
    result = ServerActivation(server, ok=False)
    try:
        session = sessions[index] = connect(server, settings)
        dp = session.abs(deploy_path)
        release = posixpath.join(dp, "releases", version)
        attrs = session.lstat(release)
        if (attrs is None or not stat.S_ISDIR(attrs.st_mode)
                or session.lstat(posixpath.join(release, MANIFEST_JSON)) is None):
            raise SshError(server.label, "release %s is not uploaded here (no %s/%s)"
                           % (version, release, MANIFEST_JSON))
        result.previous = result.current = _current_target(
            session, posixpath.join(dp, "current"))
        result.ok = True
    except SshError as exc:
        result.error = _message(server, exc)
    return result
