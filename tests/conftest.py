"""Shared test setup: most fixtures come from the ``rds_testing`` pytest plugin; the ones
here serve several test folders.

Tests that run nameko services in-process live in ``tests/interface`` whose
conftest monkey-patches with eventlet; the Makefile runs them in their own
pytest process so the browser tests never run under eventlet.
"""
import pytest


@pytest.fixture
def deployment_switch(session_factory):
    """``deployment_switch(False, "reason")`` switches every deploy off (committed); the
    switch is back on after the test, however the test flipped it (UI, API, this)."""
    # imported here: tests/interface monkey-patches with eventlet before rds modules load
    from rds_db.models import DeploymentSwitch
    from rds_db.session import transaction

    def switch(enabled, reason=None):
        with transaction(session_factory) as session:
            row = session.get(DeploymentSwitch, 1)
            row.enabled, row.reason = enabled, None if enabled else reason
    yield switch
    switch(True)
