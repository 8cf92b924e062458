"""Installing a project's cron config into the login user's crontab.

Each project owns one marked block of the crontab::

    # BEGIN rds <project> (managed by rds: edits here are replaced)
    ...the lines the release's cron script printed...
    # END rds <project>

Installing reads ``crontab -l``, replaces (or appends, or removes) only that
block and keeps every other line as it was, then installs the result in one
step: the new crontab goes to a temp file through stdin, its SHA-256 is
checked (a cut connection never installs half a crontab), and ``crontab
FILE`` replaces the crontab atomically.
"""
import hashlib
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rds_contracts.base import ServerSpec
from rds_ssh.connection import SshSession, SshSettings, connect
from rds_ssh.errors import SshError

_INSTALL = ('t=$(mktemp) || exit 125; trap \'rm -f "$t"\' EXIT; cat > "$t" && '
            '[ "$(sha256sum < "$t" | cut -c1-64)" = {digest} ] && crontab "$t"')


@dataclass
class ServerCron:
    server: ServerSpec
    ok: bool
    error: str | None = None


def begin_marker(project: str) -> str:
    return "# BEGIN rds %s (managed by rds: edits here are replaced)" % project


def end_marker(project: str) -> str:
    return "# END rds %s" % project


def replace_block(crontab: str, project: str, cron: str) -> str:
    """``crontab`` with the project's block replaced by ``cron`` (removed if empty)."""
    begin, end = begin_marker(project), end_marker(project)
    kept, inside = [], False
    for line in crontab.splitlines():
        if line.startswith("# BEGIN rds %s " % project) or line == begin:
            inside = True
            continue
        if inside and line == end:
            inside = False
            continue
        if not inside:
            kept.append(line)
    lines = [line for line in cron.splitlines() if line not in (begin, end)]
    if any(line.strip() for line in lines):
        kept += [begin] + lines + [end]
    return "\n".join(kept) + "\n" if kept else ""


def read_crontab(session: SshSession) -> str:
    status, output = session.run("crontab -l")
    if status == 0:
        return output
    if "no crontab for" in output:
        return ""
    raise SshError(session.label, "crontab -l failed (exit %s): %s" % (
        status, output.strip()[-500:] or "no output (is cron installed on the server?)"))


def install_on_server(session: SshSession, project: str, cron: str) -> bool:
    """Install the project's block; returns False when nothing had to change."""
    old = read_crontab(session)
    new = replace_block(old, project, cron)
    if new == old:
        return False
    digest = hashlib.sha256(new.encode()).hexdigest()
    session.run_checked(_INSTALL.format(digest=shlex.quote(digest)), stdin=new,
                        doing="installing the crontab")
    return True


def install_cron(servers: list[ServerSpec], project: str, cron: str, settings: SshSettings,
                 concurrency: int = 16,
                 log: Callable[[str], None] = lambda text: None) -> list[ServerCron]:
    """Install ``cron`` as the project's block on every server; one result per server."""
    def one(server: ServerSpec) -> ServerCron:
        try:
            with connect(server, settings) as session:
                changed = install_on_server(session, project, cron)
        except SshError as exc:
            log("%s: cron install failed: %s" % (server.label, exc.message))
            return ServerCron(server, ok=False, error=str(exc))
        log("%s: cron %s" % (server.label, "installed" if changed else "unchanged"))
        return ServerCron(server, ok=True)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, servers))
