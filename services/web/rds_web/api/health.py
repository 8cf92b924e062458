"""Health endpoint: is the database reachable (no auth, for load balancers)."""
from sqlalchemy import text

from rds_web.api import bp
from rds_web.db import get_session


@bp.get("/health")
def health():
    """Report ok when the database answers; 503 otherwise."""
    try:
        get_session().execute(text("SELECT 1"))
    except Exception as exc:
        return {"status": "error", "database": str(exc).splitlines()[0]}, 503
    return {"status": "ok", "database": "ok"}
