"""What every UI page shares: the logged-in user, permission checks, running
actions through the control plane, template helpers and error pages."""
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import Forbidden, NotFound
from werkzeug.wrappers import Response

from rds_control.errors import ControlError
from rds_control.users import can
from rds_core.lifecycle import ReleaseStatus
from rds_db.models import User
from rds_web.auth import P, View
from rds_web.db import get_session, run
from rds_web.ui.ansi import strip_ansi

SESSION_USER = "uid"
SESSION_VERSION = "usv"

#: Colour class and icon of every release status (see static/rds.css).
STATUS_LOOK = {
    "new": ("st-new", "○"), "building": ("st-busy", "⟳"), "built": ("st-busy", "◐"),
    "installing": ("st-busy", "⇪"), "installed": ("st-ready", "✔"),
    "using": ("st-switch", "⇄"), "used": ("st-live", "★"), "old": ("st-old", "↺"),
    "failed": ("st-failed", "✖"), "cancelling": ("st-cancel", "⊘"),
    "cancelled": ("st-cancel", "⊘"),
    # task statuses
    "queued": ("st-new", "○"), "running": ("st-busy", "⟳"), "succeeded": ("st-ready", "✔"),
    # migration states
    "pending": ("st-new", "○"), "applying": ("st-busy", "⟳"), "applied": ("st-ready", "✔"),
    "rolling_back": ("st-busy", "⟲"), "rollback_failed": ("st-failed", "✖"),
}
RELEASE_STATUSES = [s.value for s in ReleaseStatus]

T = TypeVar("T")


def log_in(user: User) -> None:
    session.clear()
    session.permanent = True
    session[SESSION_USER] = user.id
    session[SESSION_VERSION] = user.session_version


def load_user() -> None:
    """Set ``g.user`` from the session cookie (UI requests only).

    The cookie is signed, but a copy of it stays valid until the user's
    ``session_version`` moves on (logout, new password, disabled): then every
    session of that user ends, in every browser, replayed or not.
    """
    if request.blueprint == "api" or request.endpoint == "static":
        return
    g.user = None
    user_id = session.get(SESSION_USER)
    if user_id is None:
        return
    user = get_session().get(User, user_id) if isinstance(user_id, int) else None
    if (user is None or user.disabled_at is not None
            or session.get(SESSION_VERSION) != user.session_version):
        session.clear()
        return
    g.user = user


def requires(permission: str) -> Callable[[View[P]], View[P]]:
    """Decorate a view: anonymous users go to the login page, others need ``permission``."""
    def decorator(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            if g.get("user") is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not can(g.user, permission):
                abort(403, "Your role (%s) may not do this." % g.user.role)
            return view(*args, **kwargs)
        return wrapped
    return decorator


#: Characters browsers drop or reinterpret in a URL (``/\t/evil`` becomes ``//evil``).
UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next(target: object, default: str = "board.index") -> str:
    """A path on this site to go back to: never another site, whatever the encoding."""
    if (isinstance(target, str) and target.startswith("/") and not target.startswith("//")
            and len(target) <= 2000 and not UNSAFE_IN_NEXT.search(target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for(default)


def back(default: str = "board.index") -> Response:
    return redirect(safe_next(request.form.get("next") or request.args.get("next"), default))


def perform(fn: Callable[..., T], *args: object,
            success: str | Callable[[T], str] | None = None,
            **kwargs: object) -> tuple[bool, T | None]:
    """Run a control-plane action; flash its result (or refusal). Returns (ok, result)."""
    try:
        result = run(fn, *args, **kwargs)
    except ControlError as exc:
        flash(exc.message, "error")
        return False, None
    if success:
        flash(success(result) if callable(success) else success, "success")
    return True, result


def form_text(name: str, default: str = "") -> str:
    return (request.form.get(name) or default).strip()


#: Past this page every list is empty anyway; bounds the SQL OFFSET.
MAX_PAGE = 100_000


def page_number() -> int:
    try:
        return min(max(int(request.args.get("page", 1)), 1), MAX_PAGE)
    except ValueError:
        return 1


# -- template helpers --------------------------------------------------------

def fmt_time(value: datetime | None) -> Markup:
    if value is None:
        return Markup('<span class="muted">—</span>')
    value = value.astimezone(UTC)
    return Markup('<time datetime="%s">%s</time>') % (
        value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S UTC"))


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 10:
        return "%.1fs" % seconds
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm %02ds" % divmod(int(seconds), 60)
    hours, rest = divmod(int(seconds), 3600)
    return "%dh %02dm" % (hours, rest // 60)


def fmt_ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    return fmt_seconds(max(seconds, 0)) + " ago"


def error_summary(text: str | None, limit: int = 200) -> str:
    """The gist of an error: its first line and, from any output it quotes, the last line(s)."""
    if not text:
        return ""
    head, _, output = strip_ansi(text).partition("--- last output ---")
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    summary = lines[0] if lines else ""
    tail = [line.strip() for line in output.splitlines() if line.strip()]
    last: list[str] = []
    while tail and len(last) < 3 and sum(len(line) for line in last) < 40:
        last.insert(0, tail.pop())  # the last line, or the last few if they are short
    if last:
        summary += " … " + " ".join(last)
    return summary if len(summary) <= limit else summary[:limit - 1] + "…"


def status_badge(status: str, text: str | None = None) -> Markup:
    css, icon = STATUS_LOOK.get(status, ("st-new", "•"))
    return Markup('<span class="status %s" data-status="%s"><span class="icon" '
                  'aria-hidden="true">%s</span> <span class="label">%s</span></span>') % (
        css, status, icon, text or status)


def inject() -> dict[str, object]:
    user = g.get("user")
    return {"current_user": user, "can": lambda permission: can(user, permission),
            "status_badge": status_badge, "fmt_time": fmt_time, "fmt_seconds": fmt_seconds,
            "fmt_ago": fmt_ago, "error_summary": error_summary, "strip_ansi": strip_ansi}


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    app.before_request(load_user)
    app.context_processor(inject)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> ResponseReturnValue:
        return error_page(400, "Form expired",
                          "The form was not sent from an open rds page or has expired "
                          "(%s). Go back, reload the page and try again." % exc.description)

    @app.errorhandler(403)
    def forbidden(exc: Forbidden) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return {"error": "forbidden"}, 403
        return error_page(403, "Not allowed", exc.description or "Not allowed.")

    @app.errorhandler(404)
    def not_found(exc: NotFound) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return {"error": "no such API endpoint"}, 404
        return error_page(404, "Not found", "There is no such page.")

    @app.errorhandler(ControlError)
    def refused(exc: ControlError) -> ResponseReturnValue:
        # API views have their own handler; this serves the UI's GETs
        return error_page(exc.status, "Not possible", exc.message)
