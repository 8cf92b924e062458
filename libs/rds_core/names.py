"""Validation of every name that ends up in a path or a command line.

A project name, a version, a deploy path, a git ref or an SSH login must never
be able to escape its directory on a server or smuggle an option into a
command. Each check raises :class:`InvalidName` with a message a user can act
on; nothing is silently rewritten.
"""
import posixpath
import re

PROJECT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
VERSION_RE = re.compile(r"^[0-9]{1,9}\.[0-9]{2}\.[0-9]{3,9}\.[0-9]{1,9}$")
SERVER_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$")
IPV6_RE = re.compile(r"^[0-9A-Fa-f:.]{2,45}$")
PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_@+][A-Za-z0-9._@+-]*$")
GIT_REF_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}$")
STEP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class InvalidName(ValueError):
    """A name, version or path that rds refuses to use."""


def check_project_name(name: object) -> str:
    if not isinstance(name, str) or not PROJECT_NAME_RE.fullmatch(name):
        raise InvalidName(
            "project name must be 1-63 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit (got %r)" % (name,))
    return name


def check_version(version: object) -> str:
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise InvalidName(
            "version must look like <line>.00.<NNN>.<M>, e.g. 1.00.001.1 (got %r)"
            % (version,))
    return version


def check_deploy_path(path: object) -> str:
    """Return the normalised deploy path, or raise.

    Absolute paths are used as they are; relative paths are resolved by the
    server against the login user's home directory. No segment may be '..' or
    '.', hidden, empty or contain characters outside a safe set.
    """
    if not isinstance(path, str) or not path or len(path) > 1024:
        raise InvalidName("deploy path must be a non-empty path")
    absolute = path.startswith("/")
    segments = path.strip("/").split("/")
    if not segments or segments == [""]:
        raise InvalidName("deploy path must not be the filesystem root")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidName(
                "deploy path %r must not contain empty, '.' or '..' segments" % path)
        if not PATH_SEGMENT_RE.fullmatch(segment):
            raise InvalidName(
                "deploy path segment %r may only use letters, digits and . _ @ + - "
                "and must not start with '.' or '-'" % segment)
    normalised = "/".join(segments)
    return "/" + normalised if absolute else normalised


def check_host(host: object) -> str:
    if not isinstance(host, str) or not (HOST_RE.fullmatch(host) or
                                         (":" in host and IPV6_RE.fullmatch(host))):
        raise InvalidName("server host must be a host name or an IP address (got %r)"
                          % (host,))
    return host


def check_server_user(user: object) -> str:
    if not isinstance(user, str) or not SERVER_USER_RE.fullmatch(user):
        raise InvalidName("server login user must be a POSIX user name (got %r)" % (user,))
    return user


def check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidName("server port must be 1-65535 (got %r)" % (port,))
    return port


def check_git_ref(ref: object) -> str:
    if (not isinstance(ref, str) or not GIT_REF_RE.fullmatch(ref) or ".." in ref
            or ref.endswith((".lock", "/", ".")) or "//" in ref):
        raise InvalidName(
            "git ref must be a branch, tag or commit name without '..' and not "
            "starting with '-' (got %r)" % (ref,))
    return ref


def check_repository(url: object) -> str:
    """A git URL or a local path; it must not start with '-' (option injection)."""
    if (not isinstance(url, str) or not url.strip() or url != url.strip()
            or url.startswith("-") or len(url) > 2048 or "\n" in url or "\0" in url):
        raise InvalidName("repository must be a git URL or path (got %r)" % (url,))
    return url


def check_step_name(name: object) -> str:
    if not isinstance(name, str) or not STEP_NAME_RE.fullmatch(name):
        raise InvalidName("step name must match %s (got %r)" % (STEP_NAME_RE.pattern, name))
    return name


def release_dir(deploy_path: str, version: str) -> str:
    """Path of one release on a server: <deploy_path>/releases/<version>."""
    return posixpath.join(check_deploy_path(deploy_path), "releases", check_version(version))
