"""web: the Flask UI and JSON API of rds (runs under gunicorn -k gthread)."""
from collections.abc import Mapping
from typing import Any

from flask import Flask

from rds_web import config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the web application (settings from the environment, or ``test_config``)."""
    app = Flask(__name__)
    app.config.from_mapping(config.from_settings())
    if test_config is not None:
        app.config.from_mapping(test_config)
    config.check(app.config)

    from rds_web import api, bus, db, edge, metrics, ui

    edge.init_app(app)
    db.init_app(app)
    bus.init_app(app)
    api.init_app(app)
    metrics.init_app(app)
    ui.init_app(app)  # after the API: exempts its blueprint from CSRF
    return app
