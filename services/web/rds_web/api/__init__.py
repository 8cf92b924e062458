"""JSON API under ``/api/v1`` (token auth; see ``rds_web.auth``).

One module per resource: ``projects``, ``releases``, ``health``. Every
control-plane refusal becomes a JSON error with the status of its class
(400 invalid input, 403 refused, 404 not found, 409 conflict).
"""
from flask import Blueprint, Flask, Response, request

from rds_control.errors import ControlError, InvalidInput
from rds_web.auth import api_error
from rds_web.json_types import JSONObject

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body() -> JSONObject:
    """The request's JSON object (``{}`` without a body)."""
    data = request.get_json(silent=True)
    if data is None and request.data:
        raise ControlError("request body is not valid JSON")
    if data is None:
        return {}
    if not isinstance(data, dict):  # the same answer as ``rds_control.inputs.parse``
        raise InvalidInput("expected a JSON object")
    return data


@bp.errorhandler(ControlError)
def control_error(exc: ControlError) -> Response:
    return api_error(exc.status, exc.message, exc.field)


def init_app(app: Flask) -> None:
    from rds_web.api import (  # noqa: F401
        agents,
        configs,
        controls,
        health,
        migrations,
        openapi,
        projects,
        releases,
    )

    app.register_blueprint(bp)
