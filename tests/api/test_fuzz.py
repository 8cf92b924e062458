"""Property-based fuzzing of the whole JSON API with schemathesis, in-process.

Every operation of the OpenAPI document is called with generated valid and
invalid input (as a deployer, on its own database with a project and releases
so ids exist); no answer may be a 5xx, use a status the document does not list
for that operation, or have a body or content type other than documented.

Bounded to about a minute: ``FUZZ_EXAMPLES`` examples per operation and mode,
derandomized so a run is reproducible (``RDS_FUZZ_EXAMPLES`` raises it).
"""
import math
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from rds_control import projects, releases, users
from rds_db.session import make_engine, make_session_factory, transaction
from rds_testing import infra
from rds_web import create_app
from tests.api.conftest import RecordingPublisher

FUZZ_EXAMPLES = int(os.environ.get("RDS_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_database():
    """A database of its own: the fuzzer activates, cancels and deletes whatever it finds."""
    with infra.migrated_database() as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database):
    engine = make_engine(fuzz_database)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        user = users.create_user(session, "fuzzer", "deployer")
        token, _ = users.issue_token(session, user, "fuzz")
        for name in ("a", "b"):
            projects.create_project(session, {
                "name": name, "repository": "/srv/git/a.git", "deploy_path": "apps/a",
                "servers": [{"host": "10.0.0.1", "user": "deploy"}],
                "scripts": {"build": "make"}}, user)
            releases.create_release(session, name, {}, user)
    app = create_app({"DATABASE_URL": fuzz_database, "SECRET_KEY": "fuzz",
                      "BUS_PUBLISHER": RecordingPublisher(), "TESTING": False})
    app.config["FUZZ_TOKEN"] = token
    yield app
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fuzz(operation, mode, token):
    """Run ``FUZZ_EXAMPLES`` generated calls of one operation; raise on the first failure."""
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        if case.operation.path.endswith("/wait") and _finite((case.query or {}).get("timeout", 25)):
            case.query["timeout"] = "0"  # a valid long poll would only make the run slower
        case.call_and_validate(headers={"Authorization": "Bearer " + token}, checks=CHECKS)
    call()


def test_the_api_answers_only_as_documented(api_schema, fuzz_app):
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, fuzz_app.config["FUZZ_TOKEN"])
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE
            except Exception as exc:  # collect every operation's failure, then report
                failures.append("%s %s (%s): %s" % (operation.method.upper(), operation.path,
                                                    mode.value, exc))
    assert operations >= 16
    assert failures == [], "\n\n".join(failures)
