"""The gc service: joins the broker and sends its heartbeat.

Its commands arrive with a later issue (see ``rds_contracts.gc``).
"""
from rds_bus.runtime import AgentRuntime
from rds_contracts import gc


class GcService:
    name = gc.SERVICE_NAME

    runtime = AgentRuntime()
