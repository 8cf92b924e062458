"""The gc service: joins the broker and sends its heartbeat.

Its commands arrive with a later issue (see ``rds_contracts.gc``).
"""
from rds_bus import runtime
from rds_contracts import gc


class GcService(runtime.AgentService):
    name = gc.SERVICE_NAME
