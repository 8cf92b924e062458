"""The command publisher of the web app (plain kombu; no eventlet in gunicorn).

Tests pass a fake in ``test_config["BUS_PUBLISHER"]``.
"""
from flask import Flask, current_app

from rds_bus.publish import BusPublisher

EXTENSION = "rds_bus"


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = app.config.get("BUS_PUBLISHER") or BusPublisher.from_config(
        app.config)


def get_publisher() -> BusPublisher:
    return current_app.extensions[EXTENSION]
