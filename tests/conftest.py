"""Shared test setup: fixtures come from the ``rds_testing`` pytest plugin.

Tests that run nameko services in-process live in ``tests/interface`` whose
conftest monkey-patches with eventlet; the Makefile runs them in their own
pytest process so the browser tests never run under eventlet.
"""
