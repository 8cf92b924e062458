"""The migrator service: joins the broker and sends its heartbeat.

Its commands arrive with a later issue (see ``rds_contracts.migrator``).
"""
from rds_bus import runtime
from rds_contracts import migrator


class MigratorService(runtime.AgentService):
    name = migrator.SERVICE_NAME
