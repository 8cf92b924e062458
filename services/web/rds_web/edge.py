"""The edge of the web app: what every request must satisfy before a view runs,
and what every response carries.

* **Limits**: ``MAX_CONTENT_LENGTH`` (default 2 MiB) bounds every body; JSON
  nested deeper than ``MAX_JSON_DEPTH`` is refused before a view sees it.
* **Screening**: NUL and other control characters are refused in the path
  and the query string, NUL in form fields (PostgreSQL cannot store it, and no
  field needs it); integer path parts beyond a database integer are "not
  found". The API answers with a JSON 400 naming the field, the UI with its
  error page: never a 500.
* **Errors**: every HTTP error under ``/api/`` is JSON (404, 405, 413
  included), every other one the UI's error page.
* **Proxies**: with ``TRUSTED_PROXIES`` = N, the client address and scheme
  come from the last N ``X-Forwarded-*`` hops (login throttling and the audit
  log see the real client behind a TLS proxy).
* **Headers**: a Content-Security-Policy without inline scripts, no framing,
  ``nosniff``, no referrer to other sites; HSTS when ``PUBLIC_URL`` is https.
"""
import json
import logging
import re

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from rds_web.auth import api_error

log = logging.getLogger(__name__)

DEFAULT_MAX_CONTENT_LENGTH = 2 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
#: Largest value of an ``<int:…>`` path part (PostgreSQL ``integer``).
MAX_ID = 2**31 - 1

PATH_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Control characters refused in query strings (tab and newlines may pass: the views
#: that take text treat them as whitespace, and ``next`` refuses them itself).
QUERY_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: No inline scripts or handlers anywhere (templates use static/rds.js). Style
#: *attributes* stay allowed for the 256/true colours of build logs (``ui.ansi``);
#: ``<style>`` elements and styles from elsewhere do not.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "style-src-attr 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class RejectedInput(Exception):
    """Input refused at the edge: 400 (or ``status``) naming ``field``."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def is_api() -> bool:
    return request.path.startswith("/api/")


def json_depth(value: object, limit: int) -> int:
    """The nesting depth of a parsed JSON value (stops counting past ``limit``)."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        children: list[object] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
        level = [child for child in children if isinstance(child, (dict, list))]
    return depth


def nul_field(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a NUL, else None."""
    if isinstance(value, str):
        return path or "body" if "\0" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = "%s.%s" % (path, key) if path else str(key)
            if "\0" in str(key):
                return where
            found = nul_field(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_field(item, "%s.%d" % (path, index) if path else str(index))
            if found:
                return found
    return None


def screen() -> None:
    """Refuse what no view should see (runs before every request)."""
    if PATH_CONTROL_RE.search(request.path):
        raise RejectedInput("the path must not contain control characters", field="path")
    for name, value in request.args.items(multi=True):
        if QUERY_CONTROL_RE.search(name) or QUERY_CONTROL_RE.search(value):
            raise RejectedInput("query parameter %s must not contain control characters"
                                % name[:40].encode("unicode_escape").decode(),
                                field=name[:40])
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise RejectedInput("no such %s" % name, field=name, status=404)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype == "application/json" or (is_api() and request.data):
            _screen_json()
        elif request.form:
            for name, value in request.form.items(multi=True):
                if "\0" in name or "\0" in value:
                    raise RejectedInput("field %s must not contain NUL characters"
                                        % name[:40], field=name[:40])


def _screen_json() -> None:
    raw = request.get_data(cache=True)
    if not raw:
        return
    limit = current_app.config.get("MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise RejectedInput("the JSON body is nested deeper than %d levels" % limit,
                            field="body") from None
    except ValueError:
        raise RejectedInput("request body is not valid JSON", field="body") from None
    if json_depth(data, limit) > limit:
        raise RejectedInput("the JSON body is nested deeper than %d levels" % limit,
                            field="body")
    field = nul_field(data)
    if field:
        raise RejectedInput("%s must not contain NUL characters" % field, field=field)


def add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config.get("PUBLIC_URL", "").startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if is_api():
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    if not app.config.get("MAX_CONTENT_LENGTH"):  # Flask's own default is None: unbounded
        app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_CONTENT_LENGTH
    app.config.setdefault("MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:  # behind a TLS-terminating proxy: trust its X-Forwarded-For/-Proto/-Host
        # Flask's documented way to wrap its WSGI app; its stubs declare a method
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.before_request_funcs.setdefault(None, []).insert(0, screen)
    app.after_request(add_headers)

    @app.errorhandler(RejectedInput)
    def refused(exc: RejectedInput) -> ResponseReturnValue:
        if is_api():
            return api_error(exc.status, exc.message, exc.field)
        from rds_web.ui.common import error_page
        return error_page(exc.status, "Not possible", exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if is_api():
            response = api_error(exc.code or 500, exc.description or exc.name)
            if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        from rds_web.ui.common import error_page
        return error_page(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(500)
    def internal_error(exc: InternalServerError) -> ResponseReturnValue:
        log.error("unhandled error on %s %s", request.method, request.path,
                  exc_info=getattr(exc, "original_exception", None))
        if is_api():
            return api_error(500, "internal error")
        from rds_web.ui.common import error_page
        return error_page(500, "Internal error", "Something went wrong; it was logged.")
