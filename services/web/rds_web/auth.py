"""Who is calling: API tokens (``Authorization: Bearer rds_…``) and roles.

``require(permission)`` guards an API view: 401 without a valid token, 403
when the user's role lacks the permission (see ``rds_control.users``).
The UI's session login lives in ``rds_web.ui.auth`` and sets the same
``g.user``.
"""
import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from rds_control.users import can, touch_token, user_for_token
from rds_db.models import User
from rds_db.session import transaction
from rds_web.db import get_session, session_factory

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


def token_from_request() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def load_token_user() -> User | None:
    """The token's user, read in the request's session; its use is recorded in a
    short transaction of its own, at most once a minute (``TOKEN_TOUCH_SECONDS``)."""
    token = token_from_request()
    if token is None:
        return None
    user, stale_token = user_for_token(get_session(), token)
    if stale_token is not None:
        with transaction(session_factory()) as session:
            touch_token(session, stale_token)
    return user


def api_error(status: int, message: str, field: str | None = None) -> Response:
    body: dict[str, object] = {"error": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def require(permission: str) -> Callable[[View[P]], View[P]]:
    """Decorate an API view: authenticate the token and check ``permission``."""
    def decorator(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            user = load_token_user()
            if user is None:
                response = api_error(401, "missing or invalid API token")
                response.headers["WWW-Authenticate"] = 'Bearer realm="rds"'
                return response
            if not can(user, permission):
                return api_error(403, "role %s may not %s" % (user.role, permission))
            g.user = user
            return view(*args, **kwargs)
        return wrapped
    return decorator
