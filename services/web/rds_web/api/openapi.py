"""The OpenAPI 3.1 document of the JSON API (``GET /api/v1/openapi.json``).

Request bodies come from the same pydantic schemas the control plane
validates with, and response bodies from the models the API builds its
answers with (``rds_web.api.schemas``), so the document cannot drift from
what is enforced and sent; a test checks that every route under
``/api/v1`` is described here.
"""
from collections.abc import Sequence

from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rds_control.configs import ConfigInput, DeleteInput
from rds_control.inputs import ProjectInput, ReleaseInput
from rds_core.lifecycle import ReleaseStatus
from rds_web.api import bp, controls
from rds_web.api import configs as config_api
from rds_web.api import migrations as migration_api
from rds_web.api.longpoll import MAX_WAIT
from rds_web.api.params import path_param, query
from rds_web.api.schemas import (
    AgentList,
    ErrorOut,
    Health,
    ProjectList,
    ProjectOut,
    ReleaseList,
    ReleaseOut,
    RetentionPlanOut,
    TaskStarted,
)
from rds_web.edge import MAX_ID
from rds_web.json_types import JSONObject

REF = "#/components/schemas/{model}"
#: The models the document refers to: request bodies and response bodies.
REQUESTS: tuple[type[BaseModel], ...] = (ProjectInput, ReleaseInput, ConfigInput, DeleteInput,
                                         *controls.REQUESTS, migration_api.OverrideInput)
RESPONSES: tuple[type[BaseModel], ...] = (ErrorOut, ReleaseOut, ReleaseList, ProjectOut,
                                          ProjectList, AgentList, Health, RetentionPlanOut,
                                          TaskStarted, *controls.RESPONSES,
                                          migration_api.MigrationOut,
                                          migration_api.MigrationList, *config_api.RESPONSES)


def _body(description: str, model: type[BaseModel]) -> JSONObject:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=model.__name__)}}}}


ERROR = _body("refused; `error` says why, `field` names the bad field", ErrorOut)
RELEASE = _body("the release, with every action's answer for the caller", ReleaseOut)
PROJECT = _body("the project", ProjectOut)


def _op(summary: str, responses: JSONObject, body: str | None = None,
        params: Sequence[JSONObject] = (), auth: bool = True) -> JSONObject:
    """One operation, with the statuses every route of its kind can answer.

    Besides ``responses`` (what the view itself answers): 400 for a refused
    path or query (control characters, out-of-range numbers: ``rds_web.edge``),
    401 without a valid token, 404 when a path part names nothing, 413 and
    400 for a body too large, too deep or not JSON.
    """
    statuses: JSONObject = {"400": ERROR}
    if auth:
        statuses["401"] = ERROR
    if any(p["in"] == "path" for p in params):
        statuses["404"] = ERROR
    if body:
        statuses["413"] = ERROR
    statuses.update(responses)
    operation: JSONObject = {"summary": summary, "responses": dict(sorted(statuses.items()))}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/%s" % body}}}}
    if params:
        operation["parameters"] = list(params)
    if not auth:
        operation["security"] = []
    return operation


#: The same bounds the views and ``rds_web.edge`` enforce.
RID = path_param("release_id", {"type": "integer", "minimum": 0, "maximum": MAX_ID})
NAME = path_param("name", {"type": "string", "minLength": 1, "maxLength": 63})
LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
              "how many, newest first")
STATUS = query("status", {"type": "array", "minItems": 1, "items": {
    "type": "string", "enum": [s.value for s in ReleaseStatus]}}, "repeatable",
    required=True, style="form", explode=True)
TIMEOUT = query("timeout", {"type": "number", "minimum": 0, "maximum": MAX_WAIT,
                            "default": 25}, "seconds")
LOG = query("log", {"type": "string", "enum": ["1", "true", "yes", "0"]},
            "1: include the build logs")
WRITE: JSONObject = {"403": ERROR, "409": ERROR}


def _release_action(summary: str, status: str = "202") -> dict[str, JSONObject]:
    """A POST on one release, answered with the release (and every action's answer)."""
    return {"post": _op(summary, {status: RELEASE, **WRITE}, params=[RID])}


PATHS: dict[str, dict[str, JSONObject]] = {
    "/health": {"get": _op("Database reachability (details only with the health token)",
                           {"200": _body("ok", Health), "503": _body("database down", Health)},
                           auth=False)},
    "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.1"}},
                                 auth=False)},
    "/agents": {"get": _op("Agent copies with pool, version, heartbeat, online, tasks",
                           {"200": _body("agents", AgentList)})},
    "/projects": {
        "get": _op("List projects", {"200": _body("projects", ProjectList)}),
        "post": _op("Create a project", {"201": PROJECT, **WRITE}, body="ProjectInput"),
    },
    "/projects/{name}": {
        "get": _op("Show a project", {"200": PROJECT}, params=[NAME]),
        "patch": _op("Change fields of a project (same fields as creation)",
                     {"200": PROJECT, **WRITE}, params=[NAME], body="ProjectInput"),
    },
    "/projects/{name}/releases": {
        "get": _op("Releases of a project, newest first",
                   {"200": _body("releases", ReleaseList)}, params=[NAME, LIMIT]),
        "post": _op("Build the next version", {"201": RELEASE, **WRITE},
                    params=[NAME], body="ReleaseInput"),
    },
    "/projects/{name}/revert": {
        "post": _op("Activate the version live before the current one",
                    {"202": RELEASE, **WRITE}, params=[NAME])},
    "/projects/{name}/retention": {
        "get": _op("Dry run of retention: what goes next and why each other release stays",
                   {"200": _body("the plan", RetentionPlanOut), "404": ERROR}, params=[NAME])},
    "/projects/{name}/check-servers": {
        "post": _op("Read current and releases/ of every server now (drift)",
                    {"202": _body("the inspection task", TaskStarted), **WRITE}, params=[NAME])},
    "/releases/{release_id}": {
        "get": _op("A release with per-server state, builds and (log=1) logs",
                   {"200": RELEASE}, params=[RID, LOG]),
        "delete": _op("Soft-delete a release that is not live", {"200": RELEASE, **WRITE},
                      params=[RID]),
    },
    "/releases/{release_id}/wait": {
        "get": _op("Long-poll until the release reaches a status",
                   {"200": RELEASE}, params=[RID, STATUS, TIMEOUT])},
    "/releases/{release_id}/activate": _release_action("Switch live (an older release: rollback)"),
    "/releases/{release_id}/rebuild": _release_action(
        "Build the latest release again, same version"),
    "/releases/{release_id}/cancel": _release_action("Cancel a build"),
    "/releases/{release_id}/install-missing": _release_action(
        "Install a partly installed release on the servers where it is missing"),
    "/releases/{release_id}/pin": _release_action(
        "Keep the release on the servers whatever the retention policy says", status="200"),
    "/releases/{release_id}/unpin": _release_action(
        "Let the retention policy decide about the release again", status="200"),
}
FILE = path_param("filename", {"type": "string", "minLength": 1, "maxLength": 128})
PATHS.update({
    "/projects/{name}/configs": {
        "get": _op("Config files of a project (contents only for admin and deployer)",
                   {"200": _body("files", config_api.ConfigFileList), "404": ERROR},
                   params=[NAME])},
    "/projects/{name}/configs/push": {
        "post": _op("Push the current config revision to every server again",
                    {"202": _body("the revision", config_api.ConfigFileList), "409": ERROR},
                    params=[NAME])},
    "/projects/{name}/configs/check": {
        "post": _op("Ask every server which config it holds (SHA-256s, never contents)",
                    {"202": _body("the check task", config_api.CheckOut), "409": ERROR},
                    params=[NAME])},
    "/projects/{name}/configs/{filename}": {
        "get": _op("A config file with its history",
                   {"200": _body("file", config_api.ConfigFileOut), "404": ERROR},
                   params=[NAME, FILE]),
        "put": _op("Save a new version and push it to every server",
                   {"201": _body("the version", config_api.ConfigVersionOut), "400": ERROR,
                    "409": ERROR}, params=[NAME, FILE], body="ConfigInput"),
        "delete": _op("Delete a config file (its history stays) and push the change",
                      {"200": _body("the deleting version", config_api.ConfigVersionOut),
                       "404": ERROR}, params=[NAME, FILE])},
    "/projects/{name}/configs/{filename}/versions/{version}": {
        "get": _op("One version of a config file",
                   {"200": _body("the version", config_api.ConfigVersionOut), "404": ERROR},
                   params=[NAME, FILE,
                           path_param("version", {"type": "integer", "minimum": 1}),
                           query("wait", {"type": "number", "minimum": 0, "maximum": 60},
                                 "long-poll up to N seconds while the upload is pending")])},
})

PATHS.update(controls.openapi_paths(_op, _body, ERROR, NAME))


PATHS.update(migration_api.paths(_op, _body, ERROR, RELEASE))
for _path_name in ("/releases/{release_id}/activate", "/projects/{name}/revert"):
    PATHS[_path_name]["post"]["requestBody"] = {"required": False, "content": {
        "application/json": {"schema": {"$ref": REF.format(model="OverrideInput")}}}}


def component_schemas() -> dict[str, object]:
    """JSON schemas of the request and response models (and the models they use)."""
    _, top = models_json_schema([(m, "validation") for m in REQUESTS]
                                + [(m, "serialization") for m in RESPONSES], ref_template=REF)
    return dict(top.get("$defs", {}))


def document() -> dict[str, object]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "rds API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": component_schemas(), "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "an API token (rds token issue NAME)"}}},
        "security": [{"token": []}],
        "paths": PATHS,
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI document of this API."""
    return document()
