"""The migrator service: joins the broker and sends its heartbeat.

Its commands arrive with a later issue (see ``rds_contracts.migrator``).
"""
from rds_bus.runtime import AgentRuntime
from rds_contracts import migrator


class MigratorService:
    name = migrator.SERVICE_NAME

    runtime = AgentRuntime()
