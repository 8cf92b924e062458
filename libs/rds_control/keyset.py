"""Keyset pages over an id column, newest first (the release board, the audit log).

A page is one index range scan however deep it is: ``before=<id>`` reads the
rows older than a cursor, ``after=<id>`` the rows just newer than it (read
upwards, then flipped, so every page is shown newest first). Whether an older
or a newer page exists is one probe of the index in each direction. Counts
stop after ``cap + 1`` rows, so a large table costs no more than the cap.
"""
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

Ts = TypeVarTuple("Ts")

#: Counts above this show as "N+" (callers pass it, so tests can lower it).
COUNT_CAP = 10000


def count_capped(session: Session, ids: Select[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """``(count, capped)`` of the rows ``ids`` selects (the filtered key column), counting
    at most ``cap + 1`` of them."""
    total = session.scalar(select(func.count()).select_from(ids.limit(cap + 1).subquery())) or 0
    return min(total, cap), total > cap


def page_query(query: Select[*Ts], key: InstrumentedAttribute[int], before: int | None,
               after: int | None) -> Select[*Ts]:
    """``query`` on one side of the cursor, in the order to read it: ascending after
    ``after`` (reverse what it reads), descending otherwise."""
    if after is not None:
        return query.where(key > after).order_by(key.asc())
    return (query.where(key < before) if before is not None else query).order_by(key.desc())


def cursors(session: Session, ids: Select[Any], key: InstrumentedAttribute[int],
            newest: int, oldest: int) -> tuple[int | None, int | None]:
    """``(older, newer)``: the ``before=`` cursor of the next page and the ``after=``
    cursor of the previous one, each None when there is no such page."""
    older = oldest if _exists(session, ids, key < oldest, key.desc()) else None
    newer = newest if _exists(session, ids, key > newest, key.asc()) else None
    return older, newer


def _exists(session: Session, ids: Select[Any], condition: ColumnElement[bool],
            order: Any) -> bool:
    """One probe of the key's index in ``order`` (without the ``ORDER BY``, PostgreSQL
    may scan the table from its start, as many rows as the page is deep)."""
    return session.scalar(ids.where(condition).order_by(order).limit(1)) is not None
