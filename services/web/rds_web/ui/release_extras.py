"""What a release page shows besides its status: config revision and cron diff."""
from sqlalchemy.orm import Session

from rds_control.releases import live_release
from rds_db.models import ReleaseRequest
from rds_web.ui.diff import side_by_side, stats


def release_extras(session: Session, release: ReleaseRequest) -> dict[str, object]:
    """Template context: the config revision and the cron config against the live one."""
    live = live_release(session, release.project_id)
    live_cron = (live.cron_config or "") if live is not None else ""
    rows = side_by_side(live_cron, release.cron_config or "")
    return {"cron_live": live, "cron_rows": rows, "cron_stats": stats(rows),
            "cron_same": live is not None and live_cron == (release.cron_config or "")}
