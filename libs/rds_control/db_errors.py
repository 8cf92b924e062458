"""What a database error means for the work that hit it.

* ``CONNECTION``: the database is away (restart, failover, network): the
  same work will succeed later, so retry it later, with backoff;
* ``CONFLICT``: a deadlock or serialization failure (two transactions met):
  retry at once, a few times;
* ``DATA``: the data cannot be stored (out of range, too long, NUL, a
  violated constraint): retrying changes nothing, so dead-letter it with
  the reason;
* ``OTHER``: anything else (a bug): not retried either.

Decided by the PostgreSQL SQLSTATE when there is one (class 08 connection,
57P admin shutdown, 40001/40P01 conflicts, 22 data, 23 integrity).
"""
import enum

from sqlalchemy.exc import DBAPIError, DisconnectionError


class DbFailure(enum.StrEnum):
    CONNECTION = "connection"
    CONFLICT = "conflict"
    DATA = "data"
    OTHER = "other"


CONFLICT_CODES = frozenset({"40001", "40P01"})


def classify(exc: BaseException) -> DbFailure:
    if isinstance(exc, DisconnectionError):
        return DbFailure.CONNECTION
    if not isinstance(exc, DBAPIError):
        return DbFailure.OTHER
    if exc.connection_invalidated:
        return DbFailure.CONNECTION
    code = getattr(exc.orig, "pgcode", None) or ""
    if code in CONFLICT_CODES:
        return DbFailure.CONFLICT
    if code.startswith(("22", "23")):
        return DbFailure.DATA
    if code.startswith(("08", "57P")) or code == "":
        # no SQLSTATE: the driver lost or never got a connection
        return DbFailure.CONNECTION if _is_operational(exc) else DbFailure.OTHER
    return DbFailure.OTHER


def _is_operational(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying later (the database is away)."""
    return classify(exc) in (DbFailure.CONNECTION, DbFailure.CONFLICT)
