"""Settings of the web service, read from the environment.

| variable | config key | default |
|---|---|---|
| ``RDS_DATABASE_URL`` | ``DATABASE_URL`` | ``postgresql://postgres@127.0.0.1:5432/rds`` |
| ``RDS_AMQP_URI`` | ``AMQP_URI`` | ``amqp://guest:guest@127.0.0.1:5672/`` |
| ``RDS_SECRET_KEY`` | ``SECRET_KEY`` | none: required (signs sessions and CSRF tokens) |
| ``RDS_PUBLIC_URL`` | ``PUBLIC_URL`` | ``http://127.0.0.1:8000`` (links; https: secure cookies) |
| ``RDS_HEALTH_TOKEN`` | ``HEALTH_TOKEN`` | none (database error details on ``/health``) |
| ``RDS_BUS_COMMAND_KEY`` | ``BUS_COMMAND_KEY`` | none (HMAC key signing commands) |
| ``RDS_MAX_CONTENT_LENGTH`` | ``MAX_CONTENT_LENGTH`` | ``2097152`` (bytes; more: 413) |
| ``RDS_TRUSTED_PROXIES`` | ``TRUSTED_PROXIES`` | ``0`` (proxies whose X-Forwarded-* count) |
"""
import os

DEFAULTS = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/rds",
    "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/",
    "PUBLIC_URL": "http://127.0.0.1:8000",
}


#: Optional settings and their type (unset: the code's default applies).
OPTIONAL = {"SECRET_KEY": str, "HEALTH_TOKEN": str, "BUS_COMMAND_KEY": str,
            "MAX_CONTENT_LENGTH": int, "TRUSTED_PROXIES": int}


def from_environment(environ=None):
    environ = os.environ if environ is None else environ
    settings = {key: environ.get("RDS_" + key, default) for key, default in DEFAULTS.items()}
    settings["SECRET_KEY"] = environ.get("RDS_SECRET_KEY")
    for key, kind in OPTIONAL.items():
        value = environ.get("RDS_" + key)
        if value:
            settings[key] = kind(value)
    return settings


def check(config):
    if not config.get("SECRET_KEY"):
        raise RuntimeError("RDS_SECRET_KEY is not set: set it to a long random string "
                           "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
