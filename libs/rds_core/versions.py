"""Release version numbers: ``<line>.00.<NNN>.<M>`` as in the original RDS.

``line`` is the release line (``release_version``), ``NNN`` a per-project,
per-line counter (zero padded to at least three digits, never truncated) and
``M`` a per-project build counter. Versions are compared numerically,
component by component: ``1.00.1000.7`` sorts after ``1.00.999.6``.
"""
from rds_core.names import check_version

CODE = "00"


def format_version(line: int, line_counter: int, build_counter: int) -> str:
    """Compose a version string from its counters."""
    for value in (line, line_counter, build_counter):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("version counters must be non-negative integers")
    return "%d.%s.%03d.%d" % (line, CODE, line_counter, build_counter)


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a version: a tuple of ints."""
    check_version(version)
    return tuple(int(part) for part in version.split("."))


def next_version(line: int, line_counter: int, build_counter: int) -> tuple[str, int, int]:
    """Version after the given counters, with the counters to store.

    Returns ``(version, new_line_counter, new_build_counter)``.
    """
    new_line_counter, new_build_counter = line_counter + 1, build_counter + 1
    return (format_version(line, new_line_counter, new_build_counter),
            new_line_counter, new_build_counter)
