"""The web app's Flask config, derived from the settings object (``rds_settings``).

Every value and default lives in :class:`rds_settings.Settings` (README
"Configuration"); this module only maps the fields the web reads onto Flask
config keys. Tests override any key with ``create_app(test_config)``.
"""
from collections.abc import Mapping
from typing import Any

from rds_settings import Settings, get_settings

#: Flask config key -> settings field
KEYS = {
    "DATABASE_URL": "database_url",
    "AMQP_URI": "amqp_uri",
    "SECRET_KEY": "secret_key",
    "PUBLIC_URL": "public_url",
    "UI_STREAM_SECONDS": "ui_stream_seconds",
    "UI_MAX_STREAMS": "ui_max_streams",
    "UI_KEEPALIVE_SECONDS": "ui_keepalive_seconds",
    "UI_SESSION_HOURS": "ui_session_hours",
    "METRICS_TOKEN": "metrics_token",
    "HEALTH_TOKEN": "health_token",
    "BUS_COMMAND_KEY": "bus_command_key",
    "MAX_CONTENT_LENGTH": "max_content_length",
    "TRUSTED_PROXIES": "trusted_proxies",
}


def from_settings(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    return {key: getattr(settings, field) for key, field in KEYS.items()}


def check(config: Mapping[str, Any]) -> None:
    if not config.get("SECRET_KEY"):
        raise RuntimeError("RDS_SECRET_KEY is not set: set it to a long random string "
                           "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
