"""Every command and event name mapped to its schema, and the parsers.

``parse_command(name, body)`` and ``parse_event(name, body)`` raise
:class:`InvalidMessage` with a readable reason; consumers dead-letter such
messages instead of retrying them.
"""
from typing import TypeVar

from pydantic import ValidationError

from rds_contracts import activator, agents, builder, configs, gc, ingest, killer, migrator
from rds_contracts.base import Command, Message

M = TypeVar("M", bound=Message)

COMMANDS: dict[str, type[Command]] = {
    builder.BUILD: builder.BuildCommand,
    activator.ACTIVATE: activator.ActivateCommand,
    killer.CANCEL: killer.CancelCommand,
    gc.REMOVE_RELEASE: gc.RemoveReleaseCommand,
    gc.INSPECT_SERVERS: gc.InspectServersCommand,
    migrator.MIGRATE: migrator.MigrateCommand,
    configs.PUSH_CONFIG: configs.PushConfigCommand,
    configs.INSPECT_CONFIG: configs.InspectConfigCommand,
}

#: Which service consumes each command.
COMMAND_SERVICE: dict[str, str] = {
    builder.BUILD: builder.SERVICE_NAME,
    activator.ACTIVATE: activator.SERVICE_NAME,
    killer.CANCEL: killer.SERVICE_NAME,
    gc.REMOVE_RELEASE: gc.SERVICE_NAME,
    gc.INSPECT_SERVERS: gc.SERVICE_NAME,
    migrator.MIGRATE: migrator.SERVICE_NAME,
    configs.PUSH_CONFIG: configs.SERVICE_NAME,
    configs.INSPECT_CONFIG: configs.SERVICE_NAME,
}

EVENTS: dict[str, type[Message]] = {
    agents.AGENT_HEARTBEAT: agents.AgentHeartbeat,
    agents.TASK_STARTED: agents.TaskStarted,
    agents.TASK_LOG: agents.TaskLog,
    agents.TASK_STEP: agents.TaskStep,
    builder.BUILD_BUILT: builder.BuildBuilt,
    builder.BUILD_INSTALLING: builder.BuildInstalling,
    builder.SERVER_READY: builder.ServerReady,
    builder.BUILD_FINISHED: builder.BuildFinished,
    builder.BUILD_FAILED: builder.BuildFailed,
    builder.BUILD_CANCELLED: builder.BuildCancelled,
    activator.ACTIVATION_FINISHED: activator.ActivationFinished,
    activator.ACTIVATION_FAILED: activator.ActivationFailed,
    gc.REMOVAL_FINISHED: gc.RemovalFinished,
    gc.REMOVAL_FAILED: gc.RemovalFailed,
    gc.SERVERS_INSPECTED: gc.ServersInspected,
    gc.INSPECTION_FAILED: gc.InspectionFailed,
    migrator.MIGRATION_FINISHED: migrator.MigrationFinished,
    migrator.MIGRATION_FAILED: migrator.MigrationFailed,
    migrator.MIGRATION_CANCELLED: migrator.MigrationCancelled,
    configs.CONFIG_PUSHED: configs.ConfigPushed,
    configs.CONFIG_PUSH_FAILED: configs.ConfigPushFailed,
    configs.CONFIG_INSPECTED: configs.ConfigInspected,
    ingest.INGEST_PROBE: ingest.IngestProbe,
}

#: Name of each event schema, for publishers that hold an instance.
EVENT_NAMES: dict[type, str] = {schema: name for name, schema in EVENTS.items()}
COMMAND_NAMES: dict[type, str] = {schema: name for name, schema in COMMANDS.items()}


class InvalidMessage(ValueError):
    """A message that does not match its contract; never retried."""


def _parse(kind: str, table: dict[str, type[M]], name: str, body: object) -> M:
    schema = table.get(name)
    if schema is None:
        raise InvalidMessage("unknown %s %r" % (kind, name))
    if not isinstance(body, dict):
        raise InvalidMessage("%s %r: body must be a JSON object, got %s"
                             % (kind, name, type(body).__name__))
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            "%s: %s" % (".".join(str(p) for p in err["loc"]) or "<body>", err["msg"])
            for err in exc.errors())
        raise InvalidMessage("%s %r is malformed: %s" % (kind, name, problems)) from None


def parse_command(name: str, body: object) -> Command:
    return _parse("command", COMMANDS, name, body)


def parse_event(name: str, body: object) -> Message:
    return _parse("event", EVENTS, name, body)


def event_name(event: Message) -> str:
    return EVENT_NAMES[type(event)]


def command_name(command: Command) -> str:
    return COMMAND_NAMES[type(command)]
