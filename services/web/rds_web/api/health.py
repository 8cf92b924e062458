"""Health endpoint: is the database reachable (no auth, for load balancers).

Anyone learns only ok/unavailable; the database's error text (which may name
hosts, users or paths) is shown only to ``Authorization: Bearer <HEALTH_TOKEN>``
(a setting, not an API token: API tokens live in the database that may be down).
"""
import hmac
import logging

from flask import current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from rds_web.api import bp
from rds_web.auth import token_from_request
from rds_web.db import get_session

log = logging.getLogger(__name__)


def _may_see_details() -> bool:
    expected = current_app.config.get("HEALTH_TOKEN")
    given = token_from_request()
    return bool(expected and given and hmac.compare_digest(given.encode(), expected.encode()))


@bp.get("/health")
def health() -> ResponseReturnValue:
    """Report ok when the database answers; 503 otherwise."""
    try:
        get_session().execute(text("SELECT 1"))
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("health check: database unavailable: %s", detail)
        return {"status": "error",
                "database": detail if _may_see_details() else "unavailable"}, 503
    return {"status": "ok", "database": "ok"}
