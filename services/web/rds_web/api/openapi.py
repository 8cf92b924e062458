"""The OpenAPI 3.1 document of the JSON API (``GET /api/v1/openapi.json``).

Request bodies come from the same pydantic schemas the control plane
validates with, so the document cannot drift from what is enforced; a test
checks that every route under ``/api/v1`` is described here.
"""
from rds_control.inputs import ProjectInput, ReleaseInput
from rds_web.api import bp

ERROR = {"description": "refused; `error` says why, `field` names the bad field",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
RELEASE = {"description": "the release", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Release"}}}}
PROJECT = {"description": "the project", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Project"}}}}


def _op(summary, responses, body=None, params=(), auth=True):
    operation = {"summary": summary, "responses": responses}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/%s" % body}}}}
    if params:
        operation["parameters"] = list(params)
    if not auth:
        operation["security"] = []
    return operation


def _path_param(name, kind="string"):
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _query(name, kind="string", description=""):
    return {"name": name, "in": "query", "schema": {"type": kind}, "description": description}


RID, NAME = _path_param("release_id", "integer"), _path_param("name")

PATHS = {
    "/health": {"get": _op("Database reachability", {"200": {"description": "ok"},
                                                     "503": {"description": "database down"}},
                           auth=False)},
    "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.1"}},
                                 auth=False)},
    "/agents": {"get": _op("Agent copies with pool, version, heartbeat, online, tasks",
                           {"200": {"description": "agents"}})},
    "/projects": {
        "get": _op("List projects", {"200": {"description": "projects"}}),
        "post": _op("Create a project", {"201": PROJECT, "400": ERROR, "409": ERROR},
                    body="ProjectInput"),
    },
    "/projects/{name}": {
        "get": _op("Show a project", {"200": PROJECT, "404": ERROR}, params=[NAME]),
        "patch": _op("Change fields of a project (same fields as creation)",
                     {"200": PROJECT, "400": ERROR, "404": ERROR}, params=[NAME],
                     body="ProjectInput"),
    },
    "/projects/{name}/releases": {
        "get": _op("Releases of a project, newest first", {"200": {"description": "releases"}},
                   params=[NAME, _query("limit", "integer", "1-500, default 50")]),
        "post": _op("Build the next version", {"201": RELEASE, "403": ERROR, "409": ERROR},
                    params=[NAME], body="ReleaseInput"),
    },
    "/projects/{name}/revert": {
        "post": _op("Activate the version live before the current one",
                    {"202": RELEASE, "409": ERROR}, params=[NAME])},
    "/releases/{release_id}": {
        "get": _op("A release with per-server state, builds and (log=1) logs",
                   {"200": RELEASE, "404": ERROR}, params=[RID, _query("log", "string", "1")]),
        "delete": _op("Soft-delete a release that is not live", {"200": RELEASE, "409": ERROR},
                      params=[RID]),
    },
    "/releases/{release_id}/wait": {
        "get": _op("Long-poll until the release reaches a status",
                   {"200": RELEASE, "400": ERROR},
                   params=[RID, _query("status", "string", "repeatable"),
                           _query("timeout", "number", "seconds, max 60")])},
    "/releases/{release_id}/activate": {
        "post": _op("Switch live (an older release: rollback)",
                    {"202": RELEASE, "403": ERROR, "409": ERROR}, params=[RID])},
    "/releases/{release_id}/rebuild": {
        "post": _op("Build the latest release again, same version",
                    {"202": RELEASE, "409": ERROR}, params=[RID])},
    "/releases/{release_id}/cancel": {
        "post": _op("Cancel a build", {"202": RELEASE, "409": ERROR}, params=[RID])},
}


def document():
    schemas = {
        "ProjectInput": ProjectInput.model_json_schema(ref_template="#/components/schemas/{model}"),
        "ReleaseInput": ReleaseInput.model_json_schema(ref_template="#/components/schemas/{model}"),
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "field": {"type": "string"}}},
        "Release": {"type": "object", "properties": {
            "id": {"type": "integer"}, "project": {"type": "string"},
            "version": {"type": "string"}, "status": {"type": "string", "enum": [
                "new", "building", "built", "installing", "installed", "using", "used", "old",
                "failed", "cancelling", "cancelled"]},
            "servers": {"type": "array"}, "tasks": {"type": "array"},
            "last_error": {"type": ["string", "null"]}}},
        "Project": {"type": "object", "properties": {
            "name": {"type": "string"}, "live_version": {"type": ["string", "null"]}}},
    }
    for schema in list(schemas.values()):
        schemas.update(schema.pop("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "rds API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "an API token (rds token issue NAME)"}}},
        "security": [{"token": []}],
        "paths": PATHS,
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document of this API."""
    return document()
