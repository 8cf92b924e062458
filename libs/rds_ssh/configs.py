"""Pushing a project's config files into ``<deploy_path>/shared/config/``.

Per server (in parallel, at most ``concurrency`` at a time), over SFTP only:

1. read ``shared/config/.rds-config.json`` (the revision there and the names
   it wrote); a server that already has a *newer* revision is left alone,
   so a stale or redelivered push never undoes a newer one;
2. write each file to a temporary name beside its final one, created with
   mode 0640 before any byte is written, then rename it over the final name
   (SFTP posix-rename: rename(2)). A reader sees the old file or the new
   one, never half a file;
3. remove the files the previous revision wrote that this one no longer
   has (deleted config files);
4. record the new revision and names, atomically as well.

Contents never reach a log: only names, sizes and the revision do.
:func:`inspect_config` reads back only SHA-256s and the recorded revision.
"""
import hashlib
import json
import posixpath
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rds_contracts.base import ServerSpec
from rds_core import names, shared
from rds_ssh.connection import SshSession, SshSettings, connect
from rds_ssh.errors import SshError

FILE_MODE = 0o640


@dataclass
class ServerConfigPush:
    """What happened on one server."""

    server: ServerSpec
    ok: bool
    error: str | None = None
    note: str | None = None


def config_dir(session: SshSession, deploy_path: str) -> str:
    """Absolute ``<deploy_path>/shared/config`` on the server of ``session``."""
    return posixpath.join(session.abs(deploy_path), "shared", shared.CONFIG_DIR)


def write_atomically(session: SshSession, path: str, data: bytes, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path``: temp file with ``mode`` first, then rename(2) over it."""
    directory = posixpath.dirname(path)
    session.makedirs(directory)
    temp = posixpath.join(directory, ".%s.rds-tmp-%s" % (posixpath.basename(path),
                                                         secrets.token_hex(6)))
    with session.errors("cannot write %s" % path):
        try:
            with session.sftp.open(temp, "wb") as handle:
                handle.chmod(mode)
                handle.write(data)
            session.sftp.posix_rename(temp, path)
        except BaseException:
            try:
                session.sftp.remove(temp)
            except OSError:
                pass
            raise


def _read_state(session: SshSession, directory: str) -> dict[str, Any]:
    path = posixpath.join(directory, shared.CONFIG_STATE_FILE)
    with session.errors("cannot read %s" % path):
        try:
            with session.sftp.open(path, "r") as handle:
                text = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return {}
    try:
        state = json.loads(text)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def push_to_server(session: SshSession, deploy_path: str, revision: int,
                   files: dict[str, str]) -> str:
    """Put ``files`` ({name: content}) as ``revision`` on one server; returns a note."""
    directory = config_dir(session, deploy_path)
    session.makedirs(directory)
    state = _read_state(session, directory)
    there = state.get("revision")
    if isinstance(there, int) and there > revision:
        return "kept revision %d (newer than %d)" % (there, revision)
    for name, content in sorted(files.items()):
        write_atomically(session, posixpath.join(directory, shared.check_config_name(name)),
                         content.encode("utf-8"))
    listed = state.get("files")
    previous = listed if isinstance(listed, list) else []
    for name in previous:
        if not isinstance(name, str) or name in files:
            continue
        try:
            shared.check_config_name(name)
        except shared.InvalidSharedPath:
            continue  # never follow a tampered state file out of the directory
        path = posixpath.join(directory, name)
        with session.errors("cannot remove %s" % path):
            try:
                session.sftp.remove(path)
            except FileNotFoundError:
                pass
    write_atomically(session, posixpath.join(directory, shared.CONFIG_STATE_FILE),
                     json.dumps({"revision": revision, "files": sorted(files)}).encode(),
                     mode=0o644)
    return "revision %d: %d file(s)" % (revision, len(files))


def push_config(servers: list[ServerSpec], deploy_path: str, revision: int,
                files: dict[str, str], settings: SshSettings, concurrency: int = 16,
                log: Callable[[str], None] = lambda text: None) -> list[ServerConfigPush]:
    """Push ``files`` as ``revision`` to every server; one result per server, in order."""
    deploy_path = names.check_deploy_path(deploy_path)

    def one(server: ServerSpec) -> ServerConfigPush:
        try:
            with connect(server, settings) as session:
                note = push_to_server(session, deploy_path, revision, files)
        except SshError as exc:
            error = exc.message if exc.server_label == server.label else str(exc)
            log("%s: config upload failed: %s" % (server.label, error))
            return ServerConfigPush(server, ok=False, error=error)
        log("%s: config %s" % (server.label, note))
        return ServerConfigPush(server, ok=True, note=note)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, servers))


@dataclass
class ServerConfigState:
    """What one server holds: its recorded revision and a SHA-256 per file (None: missing)."""

    server: ServerSpec
    ok: bool
    revision: int | None = None
    files: dict[str, str | None] | None = None
    error: str | None = None


def inspect_server(session: SshSession, deploy_path: str,
                   filenames: list[str]) -> tuple[int | None, dict[str, str | None]]:
    directory = config_dir(session, deploy_path)
    state = _read_state(session, directory) if session.lstat(directory) is not None else {}
    revision = state.get("revision") if isinstance(state.get("revision"), int) else None
    files: dict[str, str | None] = {}
    for name in filenames:
        path = posixpath.join(directory, shared.check_config_name(name))
        with session.errors("cannot read %s" % path):
            try:
                with session.sftp.open(path, "rb") as handle:
                    digest = hashlib.sha256()
                    while True:
                        chunk = handle.read(65536)
                        if not chunk:
                            break
                        digest.update(chunk)
                files[name] = digest.hexdigest()
            except FileNotFoundError:
                files[name] = None
    return revision, files


def inspect_config(servers: list[ServerSpec], deploy_path: str, filenames: list[str],
                   settings: SshSettings, concurrency: int = 16,
                   log: Callable[[str], None] = lambda text: None) -> list[ServerConfigState]:
    """Read back every server's config state; one result per server, in order."""
    deploy_path = names.check_deploy_path(deploy_path)

    def one(server: ServerSpec) -> ServerConfigState:
        try:
            with connect(server, settings) as session:
                revision, files = inspect_server(session, deploy_path, filenames)
        except SshError as exc:
            error = exc.message if exc.server_label == server.label else str(exc)
            log("%s: config check failed: %s" % (server.label, error))
            return ServerConfigState(server, ok=False, error=error)
        log("%s: config revision %s, %d of %d file(s) present" % (
            server.label, revision if revision is not None else "none",
            sum(1 for h in files.values() if h), len(files)))
        return ServerConfigState(server, ok=True, revision=revision, files=files)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, servers))
