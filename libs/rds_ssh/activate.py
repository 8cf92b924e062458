"""Switching ``current`` to a release on every server, all or nothing.

Every server is handled by the same per-server steps (:mod:`rds_ssh.workers`),
all servers in one parallel wave by default, each on one connection that is
kept for the whole task (the caller may pass its :class:`Sessions` so a
later switch back or read-back reuses the connections too). Each step is one
shell command on that connection (one round trip).

Phase 1 (read-only): on each server the release must be uploaded
(``releases/<version>/.rds-manifest.json`` exists) and ``current`` must be
missing or a symlink; its old target is recorded. If any server fails,
nothing is switched anywhere.

Phase 2: each server switches atomically: a new relative symlink
``releases/<version>`` is created beside ``current`` under a random temporary
name and renamed over ``current`` (``mv -T``, i.e. rename(2): at every
instant ``current`` points to the old or the new release, never to nothing;
no ``ln -sfn``). ``current`` is read back in the same command and compared.

If any server fails phase 2, :func:`restore` switches every server back the
same way and reads ``current`` back, so the caller can report exactly what
each server serves. Back to what? By default to what each server pointed at
in phase 1; a caller that knows what was live before (the activation
command carries it) passes ``rollback_to`` instead, so a rerun after a crash
never "restores" the new version it had already switched to.
"""
import posixpath
import secrets
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rds_contracts.base import ServerSpec
from rds_core import names
from rds_core.manifest import MANIFEST_JSON
from rds_ssh.connection import SshSettings
from rds_ssh.errors import SshError
from rds_ssh.workers import (
    CURRENT_PROBE,
    Log,
    Remote,
    Sessions,
    error_text,
    fan_out,
    log_to_logger,
    parse_current,
    sessions_for,
)


@dataclass
class ServerActivation:
    """One server: did it switch, from which target, and what ``current`` reads now."""

    server: ServerSpec
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
    results: list[ServerActivation] = field(default_factory=list)


@dataclass(frozen=True)
class RollbackTo:
    """Where a failed activation switches back to: ``target`` None removes ``current``."""

    target: str | None


def release_target(version: str | None) -> str | None:
    """The ``current`` target of a release (``releases/<version>``), None for no release."""
    return None if version is None else posixpath.join("releases", names.check_version(version))


def _in_dp(deploy_path: str, command: str) -> str:
    """``command`` run in the deploy path, after printing its absolute path."""
    return "cd -- %s && pwd && %s" % (shlex.quote(deploy_path), command)


def _dp_and_current(remote: Remote, deploy_path: str, output: str) -> tuple[str, str | None]:
    dp = output.splitlines()[0] if output.strip() else deploy_path
    return dp, parse_current(remote.label, posixpath.join(dp, "current"), output)


def _switch(remote: Remote, deploy_path: str, target: str) -> str | None:
    """Point ``<dp>/current`` at ``target`` atomically; return the read-back target."""
    q = shlex.quote
    tmp = ".current.%s.tmp" % secrets.token_hex(8)
    output = remote.run_checked(_in_dp(deploy_path, (
        "ln -s -- %s %s && { mv -T -- %s current || { rm -f -- %s; exit 1; }; } && %s"
        % (q(target), tmp, tmp, tmp, CURRENT_PROBE))),
        doing="switching %s/current to %s" % (deploy_path, target))
    return _dp_and_current(remote, deploy_path, output)[1]


def _restore_one(sessions: Sessions, server: ServerSpec, previous: str | None,
                 deploy_path: str) -> ServerActivation:
    result = ServerActivation(server, ok=False)
    try:
        remote = sessions.get(server)
        output = remote.run_checked(_in_dp(deploy_path, CURRENT_PROBE),
                                    doing="reading %s/current" % deploy_path)
        dp, before = _dp_and_current(remote, deploy_path, output)
        result.previous = result.current = before
        if previous is None:
            if before is not None:
                output = remote.run_checked(_in_dp(deploy_path, "rm -f -- current && %s"
                                                   % CURRENT_PROBE),
                                            doing="removing %s/current" % dp)
                result.current = _dp_and_current(remote, deploy_path, output)[1]
        elif before != previous:
            result.current = _switch(remote, deploy_path, previous)
        if result.current != previous:
            raise SshError(server.label, "current reads %r after switching back, expected %r"
                           % (result.current, previous))
        result.ok = True
    except SshError as exc:
        result.error = error_text(server, exc)
    return result


def restore(servers_with_previous: Iterable[tuple[ServerSpec, str | None]], deploy_path: str,
            settings: SshSettings, concurrency: int | None = None, log: Log = log_to_logger,
            sessions: Sessions | None = None) -> list[ServerActivation]:
    """Switch each ``(server, previous_target)`` back; returns one ServerActivation each.

    ``previous_target`` None removes ``current``. In each result ``previous``
    is what ``current`` pointed to before and ``current`` the read-back.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    pairs = list(servers_with_previous)
    with sessions_for(sessions, settings) as pool:
        def one(pair: tuple[ServerSpec, str | None]) -> ServerActivation:
            server, previous = pair
            result = _restore_one(pool, server, previous, deploy_path)
            if result.ok:
                log("%s: current -> %s (switched back)" % (server.label, previous or "(none)"))
            else:
                log("%s: switching back failed: %s" % (server.label, result.error))
            return result

        return fan_out(one, pairs, concurrency)


def read_current(server: ServerSpec, deploy_path: str, settings: SshSettings,
                 sessions: Sessions | None = None) -> str | None:
    """The target of ``<deploy_path>/current`` on ``server``, or None if there is none.

    Raises SshError if the server cannot be reached or ``current`` is not a symlink.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    with sessions_for(sessions, settings) as pool:
        return _read(pool.get(server), deploy_path)


def _read(remote: Remote, deploy_path: str) -> str | None:
    output = remote.run_checked(_in_dp(deploy_path, CURRENT_PROBE),
                                doing="reading %s/current" % deploy_path)
    return _dp_and_current(remote, deploy_path, output)[1]


def read_currents(servers: Sequence[ServerSpec], deploy_path: str, settings: SshSettings,
                  concurrency: int | None = None,
                  sessions: Sessions | None = None) -> list[ServerActivation]:
    """``current`` of every server, in parallel (``ok`` False with the error if unreadable)."""
    deploy_path = names.check_deploy_path(deploy_path)
    with sessions_for(sessions, settings) as pool:
        def one(server: ServerSpec) -> ServerActivation:
            try:
                current = _read(pool.get(server), deploy_path)
                return ServerActivation(server, ok=True, previous=current, current=current)
            except SshError as exc:
                return ServerActivation(server, ok=False, error=error_text(server, exc))

        return fan_out(one, servers, concurrency)


def switch_servers(servers: Sequence[ServerSpec], deploy_path: str, version: str,
                     settings: SshSettings, concurrency: int | None = None,
                     log: Log = log_to_logger, sessions: Sessions | None = None,
                     rollback_to: RollbackTo | None = None) -> Activation:
    """Switch ``current`` to ``releases/<version>`` on every server, or on none.

    Returns an :class:`Activation`; raises ``rds_core.names.InvalidName`` for a
    bad deploy path or version before connecting anywhere. ``concurrency``
    None: every server at once (one wave).
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)
    target = posixpath.join("releases", version)
    servers = list(servers)
    with sessions_for(sessions, settings) as pool:
        checks = fan_out(lambda server: _check(pool, server, deploy_path, version), servers,
                         concurrency)
        failed = [r for r in checks if not r.ok]
        if failed:
            for r in checks:
                if r.ok:
                    r.ok, r.error = False, "not switched: another server failed the checks"
            for r in failed:
                log("%s: cannot activate %s: %s" % (r.server.label, version, r.error))
            return Activation(ok=False, reason="; ".join(
                "%s: %s" % (r.server.label, r.error) for r in failed), results=checks)

        def switch(result: ServerActivation) -> ServerActivation:
            try:
                result.current = _switch(pool.get(result.server), deploy_path, target)
                if result.current != target:
                    raise SshError(result.server.label, "current reads %r after the switch, "
                                   "expected %r" % (result.current, target))
                log("%s: current -> %s (was %s)" % (result.server.label, target,
                                                   result.previous or "(none)"))
            except SshError as exc:
                result.ok, result.error = False, error_text(result.server, exc)
                log("%s: switching to %s failed: %s" % (result.server.label, version,
                                                        result.error))
            return result

        results = fan_out(switch, checks, concurrency)
        failed = [r for r in results if not r.ok]
        if not failed:
            return Activation(ok=True, results=results)
        reason = "activation of %s failed on %s" % (version, "; ".join(
            "%s: %s" % (r.server.label, r.error) for r in failed))
        restored = restore([(r.server, r.previous if rollback_to is None else rollback_to.target)
                            for r in results], deploy_path, settings,
                           concurrency=concurrency, log=log, sessions=pool)
        for result, back in zip(results, restored):
            result.ok, result.current = False, back.current
            if not back.ok:
                result.error = "%s; switching back failed: %s" % (
                    result.error or "switched", back.error)
            elif result.error is None:
                result.error = "switched back to %s: activation failed on another server" % (
                    (result.previous if rollback_to is None else rollback_to.target)
                    or "(none)")
        not_back = [b for b in restored if not b.ok]
        if not_back:
            reason += "; switching back failed on %s" % ", ".join(
                b.server.label for b in not_back)
        else:
            reason += "; every server was switched back"
        return Activation(ok=False, rolled_back=True, reason=reason, results=results)


def _check(sessions: Sessions, server: ServerSpec, deploy_path: str,
           version: str) -> ServerActivation:
    """Phase 1 on one server: release present, ``current`` replaceable."""
    result = ServerActivation(server, ok=False)
    q = shlex.quote
    release = posixpath.join("releases", version)
    try:
        remote = sessions.get(server)
        status, output = remote.run(
            "if ! cd -- %s 2>/dev/null; then echo rds:no-deploy-path; exit 0; fi; pwd; "
            "if [ -d %s ] && [ ! -L %s ] && [ -f %s/%s ]; then echo rds:uploaded; fi; %s"
            % (q(deploy_path), q(release), q(release), q(release), MANIFEST_JSON,
               CURRENT_PROBE))
        if status != 0:
            raise SshError(server.label, "checking %s failed (exit %s): %s"
                           % (deploy_path, status, output.strip()[-500:] or "no output"))
        lines = output.splitlines()
        if "rds:uploaded" not in lines:
            where = deploy_path if "rds:no-deploy-path" in lines else lines[0]
            raise SshError(server.label, "release %s is not uploaded here (no %s/%s/%s)"
                           % (version, where, release, MANIFEST_JSON))
        result.previous = result.current = _dp_and_current(remote, deploy_path, output)[1]
        result.ok = True
    except SshError as exc:
        result.error = error_text(server, exc)
    return result
