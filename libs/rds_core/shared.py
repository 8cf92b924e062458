"""What a release shares with the others: shared files and dirs, config files.

On every server, ``<deploy_path>/shared/`` holds what outlives a release:

* each of the project's ``shared_dirs`` and ``shared_files`` at its relative
  path (created empty when missing: a directory, or an empty file);
* ``shared/config/``: the project's local config files (``.env``,
  ``config/local.yml``), pushed there whenever a version is saved.

Every release links them in: ``releases/<v>/<path>`` is a *relative*
symlink to ``shared/<path>`` (config files: to ``shared/config/<name>``).
The links are made in the built tree before it is packed, so they are part
of the release's manifest and verified on every server with the rest of it,
and they keep working whatever the deploy path resolves to.

The names are checked here, once, for the API, the UI and the agents: a
relative path of safe segments that cannot escape its directory.
"""
import posixpath
import re

#: The directory under ``shared/`` that holds the config files.
CONFIG_DIR = "config"
#: Largest config file (bytes of UTF-8).
MAX_CONFIG_BYTES = 1024 * 1024
#: Config files per project, and shared paths per project.
MAX_CONFIG_FILES = 100
MAX_SHARED_PATHS = 100
#: Bookkeeping file of the pushed config revision, in ``shared/config/``.
CONFIG_STATE_FILE = ".rds-config.json"

_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.@+-]+$")


class InvalidSharedPath(ValueError):
    """A shared path or config file name rds refuses."""


def _check_relative(path: object, what: str, limit: int) -> str:
    if not isinstance(path, str) or not path:
        raise InvalidSharedPath("%s must be a non-empty relative path" % what)
    if "\0" in path:
        raise InvalidSharedPath("%s must not contain a NUL byte" % what)
    if len(path) > limit:
        raise InvalidSharedPath("%s is longer than %d characters" % (what, limit))
    if path.startswith("/"):
        raise InvalidSharedPath("%s %r must be relative (no leading '/')" % (what, path))
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidSharedPath("%s %r must not contain empty, '.' or '..' segments: it "
                                    "would escape its directory" % (what, path))
        if not _SEGMENT_RE.fullmatch(segment) or segment.startswith("-"):
            raise InvalidSharedPath("%s %r: segment %r may only use letters, digits and "
                                    ". _ @ + - (not starting with '-')" % (what, path, segment))
    return path


def check_config_name(name: object) -> str:
    """A config file name: a safe relative path inside ``shared/config/``."""
    name = _check_relative(name, "config file name", 128)
    if name.split("/")[0].startswith(".rds"):
        raise InvalidSharedPath("config file name %r: names starting with .rds are reserved"
                                % name)
    return name


def check_shared_path(path: object) -> str:
    """A shared file or dir: a safe relative path inside ``shared/``.

    It may lie in ``shared/config/`` too (e.g. ``config/app.ini``), as long as
    no config file has the same name there (checked when a config is saved).
    """
    return _check_relative(path, "shared path", 512)


def check_config_content(content: object) -> str:
    """Config file content: text without NUL bytes, at most 1 MiB."""
    if not isinstance(content, str):
        raise InvalidSharedPath("content must be text")
    if "\0" in content:
        raise InvalidSharedPath("content must not contain a NUL byte")
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise InvalidSharedPath("content is %d bytes; at most %d (1 MiB) are allowed"
                                % (size, MAX_CONFIG_BYTES))
    return content


def link_target(path: str, shared_path: str) -> str:
    """The relative symlink target from ``releases/<v>/<path>`` to ``shared/<shared_path>``."""
    depth = path.count("/") + 2  # up through the path's parents, <v> and releases
    return posixpath.join(*([".."] * depth), "shared", shared_path)


def release_links(shared_files: list[str], shared_dirs: list[str],
                  config_files: list[str]) -> dict[str, str]:
    """Every link a release gets: ``{path in the release: path under shared/}``."""
    links = {p: p for p in list(shared_dirs) + list(shared_files)}
    for name in config_files:
        links[name] = posixpath.join(CONFIG_DIR, name)
    return links
