"""Long-polls of the API: wait for a change without polling, with a bounded time.

Every waiting route (``/releases/<id>/wait``, ``/migrations/<id>/wait``, a config
version's ``?wait=``) reads its object, returns it once it is what the caller
waits for, and otherwise sleeps on the process's LISTEN/NOTIFY hub until the
next change. The wait is a finite number of seconds up to ``MAX_WAIT``:
``nan`` or ``inf`` would keep a worker thread forever, so they are refused.
"""
import math
import time
from collections.abc import Callable
from typing import TypeVar

from flask import request

from rds_control.errors import InvalidInput
from rds_web.change_hub import get_hub
from rds_web.db import close_session

MAX_WAIT = 60.0
T = TypeVar("T")


def seconds_arg(name: str, default: float, high: float = MAX_WAIT) -> float:
    """The query argument ``name``: a finite number of seconds from 0 to ``high``."""
    text = request.args.get(name)
    try:
        value = float(text) if text is not None else default
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= high:
        raise InvalidInput("%s must be a number of seconds from 0 to %g" % (name, high),
                           field=name)
    return value


def long_poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """``read()`` until ``done`` says so or ``timeout`` seconds passed; the last read wins.

    Each read runs in a fresh request session (closed before sleeping, so a
    waiting thread holds no database connection).
    """
    hub = get_hub()
    hub.start()
    deadline = time.monotonic() + timeout
    while True:
        seen = hub.latest()
        data = read()
        close_session()
        remaining = deadline - time.monotonic()
        if done(data) or remaining <= 0:
            return data
        hub.wait(seen, remaining)
