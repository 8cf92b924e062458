"""Database migrations of deployed projects: types, states, names, listings.

A project's ``migrations`` script prints one migration name per line (run once
with ``type=pre`` and once with ``type=post`` in the built tree); its
``migration`` script runs one of them ``up`` or ``down``. A name ends up in a
command line and usually in a file name on the migration host, so it must be
a plain word: letters, digits, ``_``, ``.`` and ``-``, not starting with a
``.`` or ``-`` (no path separators, no spaces, no shell metacharacters).

States of one migration::

    pending ─apply→ applying ─→ applied ─roll back→ rolling_back ─→ pending
                        └─→ failed (apply again)        └─→ rollback_failed
                                                           (roll back again)

Plain module: the agents and the control plane both use it.
"""
import enum
import re

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
#: Most migrations one listing may print (a runaway script is a failure).
MAX_LISTED = 10000


class MigrationType(enum.StrEnum):
    PRE = "pre"    # before activation, on the database the live code also uses
    POST = "post"  # after the stabilisation delay; sets the rollback floor


class MigrationState(enum.StrEnum):
    PENDING = "pending"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLBACK_FAILED = "rollback_failed"


class Direction(enum.StrEnum):
    """The ``command`` the migration script receives."""

    UP = "up"
    DOWN = "down"


class PreMigrationRun(enum.StrEnum):
    """"Run pre migrations" of a release (``release_requests.migration_status``)."""

    NONE = "none"
    RUNNING = "running"  # each success starts the next pending pre migration
    DONE = "done"
    FAILED = "failed"


M = MigrationState
#: States from which a migration may be applied (again).
APPLICABLE = frozenset({M.PENDING, M.FAILED})
#: States from which a migration may be rolled back (again).
ROLLBACKABLE = frozenset({M.APPLIED, M.ROLLBACK_FAILED})
#: States in which the migrator is working on it.
RUNNING = frozenset({M.APPLYING, M.ROLLING_BACK})
#: States in which its change is (or may be) in the database.
IN_EFFECT = frozenset({M.APPLIED, M.ROLLING_BACK, M.ROLLBACK_FAILED})


class BadListing(ValueError):
    """A migrations listing that rds refuses (the build fails with this message)."""


def check_migration_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError("migration name must be 1-200 characters of A-Z, a-z, 0-9, '_', '.' "
                         "or '-', not starting with '.' or '-' (got %r)" % (name,))
    return name


def parse_listing(text: str, kind: str = "pre") -> list[str]:
    """The migration names a listing printed, in order, without duplicates.

    Blank lines are ignored; anything else that is not a valid name raises
    :class:`BadListing` quoting the line and its number.
    """
    names: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not NAME_RE.fullmatch(line):
            raise BadListing(
                "the migrations script printed an invalid %s migration name on line %d: %r "
                "(one name per line; letters, digits, '_', '.', '-'; no path separators, "
                "spaces or shell metacharacters)" % (kind, number, raw[:200]))
        if line not in seen:
            seen.add(line)
            names.append(line)
        if len(names) > MAX_LISTED:
            raise BadListing("the migrations script listed more than %d %s migrations"
                             % (MAX_LISTED, kind))
    return names
