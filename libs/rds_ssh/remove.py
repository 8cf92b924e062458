"""Removing a release from every server, and reading what the servers hold.

:func:`remove_release` runs ONE remote command per server (in parallel, at
most ``concurrency`` at a time); connecting costs more than everything else,
and a command-only step fits any shell transport:

1. read ``<dp>/current``; if it resolves to ``releases/<version>`` (relative
   or absolute, canonicalised with ``readlink -f``), refuse: whatever the
   database says, that server serves it (reported as drift, never removed).
   A ``current`` that is not a symlink is refused too (it cannot be told);
2. if ``releases/<version>`` is already gone, the server is done (removal is
   idempotent);
3. rename it to ``releases/.<version>.removing-<random>`` (rename(2): the
   release disappears at once, never half-deleted under its own name), check
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

Versions are checked (digits and dots) before they reach a command; the
deploy path is checked and quoted with :func:`shlex.quote`. Uses only the
public ``connect`` and ``run_checked`` of ``rds_ssh.connection``.
"""
import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from rds_contracts.base import ServerSpec
from rds_core import names
from rds_ssh.connection import SshSettings, connect
from rds_ssh.errors import SshError
from rds_ssh.workers import Log, error_text, fan_out, log_to_logger

#: rds's own hidden directories in ``releases/``: upload staging, a replaced
#: upload moved aside, a removal in progress.
STAGING_RE = re.compile(r"^\.(?P<version>[0-9.]+)\.(?:partial|old|removing)-[0-9a-f]+$")

@dataclass
class ServerRemoval:
    """One server's outcome of a removal."""

    server: ServerSpec
    ok: bool = False
    removed: bool = False
    current: str | None = None
    drift: bool = False
    error: str | None = None


@dataclass
class Inventory:
    """What one server holds: ``current`` and the entries of ``releases/``."""

    server: ServerSpec
    ok: bool = False
    error: str | None = None
    current: str | None = None
    releases: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)


#: Shell prelude of every command here: enter the deploy path, and describe
#: ``current`` (``rds:current <target>``, ``rds:no-current``, ``rds:not-a-link``).
#: ``live`` succeeds when ``current`` resolves to ``$target`` (absolute or
#: relative, trailing slash or not: both sides are canonicalised).
_PRELUDE = """cd -- {dp} 2>/dev/null || {{ echo rds:no-deploy-path; exit 0; }}
target="$(readlink -f releases 2>/dev/null || echo "$PWD/releases")/{version}"
live() {{ [ -L current ] && [ "$(readlink -f current)" = "$target" ]; }}
if [ -L current ]; then printf 'rds:current %s\\n' "$(readlink current)"
elif [ -e current ]; then echo rds:not-a-link; exit 0
else echo rds:no-current; fi
if live; then echo rds:live; exit 0; fi
"""

#: The removal itself: gone already, or renamed aside, re-checked, deleted.
_REMOVE = _PRELUDE + """if [ ! -e releases/{version} ] && [ ! -L releases/{version} ]; then
  echo rds:absent; exit 0; fi
mv -T -- releases/{version} releases/{aside} || exit 1
if live; then mv -T -- releases/{aside} releases/{version}; echo rds:live; exit 0; fi
rm -rf -- releases/{aside} || exit 1
echo rds:removed
"""

_CHECK = _PRELUDE + "echo rds:not-live\n"


def _script(template: str, deploy_path: str, version: str, **extra: str) -> str:
    return template.format(dp=shlex.quote(deploy_path), version=version, **extra)


def _markers(output: str) -> dict[str, str]:
    """``rds:<marker> [value]`` lines of a command's output."""
    found = {}
    for line in output.splitlines():
        if line.startswith("rds:"):
            marker, _, value = line[4:].partition(" ")
            found[marker] = value
    return found


def _read(result: ServerRemoval, markers: dict[str, str], version: str) -> bool:
    """Record what ``current`` is; refuse (False) when it serves the release or is no link."""
    result.current = markers.get("current")
    if "not-a-link" in markers:
        result.error = ("current is not a symlink (a real directory or file?): cannot tell "
                        "which release it serves; %s not removed" % version)
        return False
    if "live" in markers:
        result.drift = True
        result.error = ("current points at %s here: not removed (rds does not think it is "
                        "live on this server: drift)" % version)
        return False
    return True


def _remove_one(server: ServerSpec, deploy_path: str, version: str, settings: SshSettings,
                log: Log) -> ServerRemoval:
    result = ServerRemoval(server)
    aside = ".%s.removing-%s" % (version, secrets.token_hex(6))
    try:
        with connect(server, settings) as session:
            markers = _markers(session.run_checked(
                _script(_REMOVE, deploy_path, version, aside=aside),
                doing="removing releases/%s" % version))
        if not _read(result, markers, version):
            log("%s: %s" % (server.label, result.error))
            return result
        result.ok, result.removed = True, "removed" in markers
        log("%s: %s" % (server.label, "removed %s" % version if result.removed
                        else "%s is not there (already removed)" % version))
    except SshError as exc:
        result.ok, result.error = False, error_text(server, exc)
        log("%s: could not remove %s: %s" % (server.label, version, result.error))
    return result


def remove_release(servers: Sequence[ServerSpec], deploy_path: str, version: str,
                   settings: SshSettings, concurrency: int = 16,
                   log: Log = log_to_logger) -> list[ServerRemoval]:
    """Remove ``releases/<version>`` from every server; one ServerRemoval each.

    Raises ``rds_core.names.InvalidName`` for a bad deploy path or version
    before connecting anywhere.
    """
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)
    return fan_out(lambda s: _remove_one(s, deploy_path, version, settings, log), servers,
                   concurrency)


def check_not_live(servers: Sequence[ServerSpec], deploy_path: str, version: str,
                   settings: SshSettings, concurrency: int = 16) -> list[ServerRemoval]:
    """Per server: ok when ``current`` does not point at ``version`` (drift when it does)."""
    deploy_path = names.check_deploy_path(deploy_path)
    names.release_dir(deploy_path, version)

    def one(server: ServerSpec) -> ServerRemoval:
        result = ServerRemoval(server)
        try:
            with connect(server, settings) as session:
                markers = _markers(session.run_checked(
                    _script(_CHECK, deploy_path, version), doing="reading current"))
            result.ok = _read(result, markers, version)
        except SshError as exc:
            result.error = error_text(server, exc)
        return result

    return fan_out(one, servers, concurrency)


_LIST = r"""cd -- {dp} 2>/dev/null || exit 0
if [ -L current ]; then printf 'rds:current %s\n' "$(readlink current)"
elif [ -e current ]; then echo rds:not-a-link; fi
cd releases 2>/dev/null || exit 0
printf 'rds:now %s\n' "$(date +%s.%N)"
echo rds:listing
find . -mindepth 1 -maxdepth 1 -printf '%y %C@ %f\0'
"""


def _inspect_one(server: ServerSpec, deploy_path: str, settings: SshSettings,
                 sweep_older_than: float | None, now: float | None, log: Log) -> Inventory:
    result = Inventory(server)
    try:
        with connect(server, settings) as session:
            output = session.run_checked(_LIST.format(dp=shlex.quote(deploy_path)),
                                         doing="listing %s/releases" % deploy_path)
            head, _, listing = output.partition("rds:listing\n")
            markers = _markers(head)
            if "not-a-link" in markers:
                raise SshError(server.label, "current is not a symlink (a real directory or "
                               "file?): cannot tell which release it serves")
            result.current = markers.get("current")
            server_now = float(markers.get("now") or 0)
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
                session.run_checked("cd -- %s/releases && rm -rf -- %s" % (
                    shlex.quote(deploy_path), " ".join(shlex.quote(n) for n in doomed)),
                    doing="removing old staging directories")
                result.swept = doomed
                log("%s: removed %d leftover staging director%s: %s" % (
                    server.label, len(doomed), "y" if len(doomed) == 1 else "ies",
                    ", ".join(doomed)))
            result.ok = True
    except (SshError, ValueError) as exc:
        result.error = (error_text(server, exc) if isinstance(exc, SshError)
                        else "unexpected listing from the server: %s" % exc)
        log("%s: inspection failed: %s" % (server.label, result.error))
    for entries in (result.releases, result.unknown, result.staging):
        entries.sort()
    return result


def inspect(servers: Sequence[ServerSpec], deploy_path: str, settings: SshSettings,
            sweep_older_than: float | None = None, now: float | None = None,
            concurrency: int = 16, log: Log = log_to_logger) -> list[Inventory]:
    """Read ``current`` and ``releases/`` of every server; sweep old staging directories.

    ``now`` (seconds since the epoch) replaces the server's clock when
    judging the age of staging directories (tests inject it).
    """
    deploy_path = names.check_deploy_path(deploy_path)
    return fan_out(lambda s: _inspect_one(s, deploy_path, settings, sweep_older_than, now, log),
                   servers, concurrency)
