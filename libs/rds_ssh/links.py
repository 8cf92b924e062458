"""Server side of shared paths, and project scripts run on a server.

:func:`ensure_shared` creates what a release's links point to, when missing:
``shared/<dir>`` for each shared dir, an empty ``shared/<file>`` for each
shared file, and ``shared/config/``. Nothing that exists is touched, so
shared data survives every redeploy and rollback.

:func:`run_short_script` runs a project script (e.g. ``post_deploy``) on the
server in a given directory with the documented environment: the body goes
to a private temp file through stdin (never on the command line), runs under
its ``#!`` interpreter or ``bash -e``, and is removed afterwards.
"""
import posixpath
import shlex

from rds_core import shared
from rds_ssh.connection import SshSession

_RUN = ('umask 077; t=$(mktemp) || exit 125; trap \'rm -f "$t"\' EXIT; cat > "$t" && '
        'chmod 700 "$t" && cd {cwd} && env {env} {interpreter}"$t"')


def ensure_shared(session: SshSession, deploy_path: str, shared_dirs: list[str],
                  shared_files: list[str]) -> list[str]:
    """Create missing shared targets; returns the ones created (relative to shared/)."""
    q = shlex.quote
    base = posixpath.join(session.abs(deploy_path), "shared")
    script = ["set -e", "cd %s" % q(base), "mkdir -p %s" % q(shared.CONFIG_DIR)]
    for path in shared_dirs:
        path = shared.check_shared_path(path)
        script.append("if [ ! -e %s ]; then mkdir -p %s && echo %s; fi" % (q(path), q(path),
                                                                             q(path)))
    for path in shared_files:
        path = shared.check_shared_path(path)
        script.append("if [ ! -e %s ]; then mkdir -p %s && : > %s && echo %s; fi" % (
            q(path), q(posixpath.dirname(path) or "."), q(path), q(path)))
    session.makedirs(base)
    output = session.run_checked("\n".join(script), doing="creating the shared paths")
    return [line for line in output.splitlines() if line.strip()]


def missing_config_files(session: SshSession, deploy_path: str, names: list[str]) -> list[str]:
    """The config files not (yet) in ``shared/config/`` on this server."""
    base = posixpath.join(session.abs(deploy_path), "shared", shared.CONFIG_DIR)
    return [n for n in names if session.lstat(posixpath.join(base, n)) is None]


def run_short_script(session: SshSession, body: str, env: dict[str, str],
                     cwd: str) -> tuple[int, str]:
    """Run a project script on the server in ``cwd``; ``(exit status, output)``."""
    q = shlex.quote
    interpreter = "" if body.startswith("#!") else "/bin/bash -e "
    assignments = " ".join("%s=%s" % (name, q(value)) for name, value in sorted(env.items())
                           if name.isidentifier())
    command = _RUN.format(cwd=q(cwd), env=assignments, interpreter=interpreter)
    return session.run(command, stdin=body.replace("\r\n", "\n"))
