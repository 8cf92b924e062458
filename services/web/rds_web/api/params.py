"""OpenAPI parameter objects, shared by the document (``rds_web.api.openapi``) and the
modules that describe their own routes (``controls``, ``migrations``).

A leaf module: the document imports those modules, so they cannot import it.
"""
from rds_web.json_types import JSON, JSONObject


def path_param(name: str, schema: JSONObject) -> JSONObject:
    """A required path part, e.g. ``path_param("release_id", {"type": "integer"})``."""
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query(name: str, schema: JSONObject, description: str = "", **extra: JSON) -> JSONObject:
    """A query parameter (``extra``: ``required``, ``style``, ``explode``…)."""
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}
