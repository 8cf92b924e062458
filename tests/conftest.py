"""Shared test setup.

nameko's pytest plugin does not monkey-patch; services under test need
eventlet's patching before anything else is imported.
"""
import eventlet

eventlet.monkey_patch()
