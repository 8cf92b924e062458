"""Run an rds nameko service with its config derived from the settings object.

    rds-service builder            # = nameko run rds_builder.service, configured from RDS_*
    rds-service builder --check    # health check: a copy of builder consumes its queue

nameko needs a config dict (``AMQP_URI``, ``max_workers``, ``LOGGING``) and
rds's dependency providers read a few keys from it (``DATABASE_URL``,
``AGENT_POOL``, ``AGENT_NAME``, ``HEARTBEAT_INTERVAL``, ``BUS_COMMAND_KEY``,
``BUS_EVENT_KEY``). ``nameko_config``
builds all of it from :class:`~rds_settings.Settings`, so no value or
default is written in a YAML file (the services have no ``config.yml`` any
more). ``--config FILE`` may add or override nameko-only keys (e.g.
``max_workers``, ``SERIALIZER``); rds settings always come from ``RDS_*``.

The settings object itself travels in the dict under ``RDS_SETTINGS``;
services get it with the ``SettingsDependency`` provider, parsed once at
start (a test container without it falls back to the environment).
"""
import argparse
import importlib
import logging
import logging.config
import sys
from typing import Any

from rds_settings.settings import Settings, SettingsError, get_settings

SETTINGS_KEY = "RDS_SETTINGS"
#: services that run beside the database; they heartbeat under this pool name
WEB_SIDE_POOL = "web"
WEB_SIDE = ("ingest", "pruner")
AGENTS = ("builder", "activator", "killer", "migrator", "gc")
SERVICES = WEB_SIDE + AGENTS
#: commands one copy works on at once (also its prefetch); builder: RDS_BUILDER_CONCURRENCY
MAX_WORKERS = {"ingest": 4, "pruner": 4, "activator": 4, "killer": 4, "migrator": 2, "gc": 2}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"level": level, "handlers": ["console"]},
    }


def nameko_config(service: str, settings: Settings,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nameko config dict of ``service``, every value from ``settings``."""
    if service not in SERVICES:
        raise ValueError("unknown service %r (one of %s)" % (service, ", ".join(SERVICES)))
    config: dict[str, Any] = {
        "AMQP_URI": settings.amqp_uri,
        "max_workers": (settings.builder_concurrency if service == "builder"
                        else MAX_WORKERS[service]),
        "AGENT_POOL": WEB_SIDE_POOL if service in WEB_SIDE else settings.agent_pool,
        "AGENT_NAME": settings.agent_name,
        "HEARTBEAT_INTERVAL": settings.heartbeat_interval,
        "BUS_COMMAND_KEY": settings.bus_command_key,
        "BUS_EVENT_KEY": settings.bus_event_key,
        "LOGGING": logging_config(settings.log_level),
        SETTINGS_KEY: settings,
    }
    if service in WEB_SIDE:
        config["DATABASE_URL"] = settings.database_url
    config.update(overrides or {})
    return config


def settings_of(config: dict[str, Any]) -> Settings:
    """The settings a nameko container was started with (or the environment's)."""
    settings = config.get(SETTINGS_KEY)
    return settings if isinstance(settings, Settings) else get_settings()


def _read_overrides(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml

    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise SystemExit("%s: expected a mapping of nameko config keys" % path)
    return data


#: the queue whose consumers show a service is up (nameko names RPC queues rpc-<service>)
HEALTH_QUEUES = {"ingest": "rds.ingest.events"}


def check(service: str, settings: Settings) -> str | None:
    """``None`` when some copy of ``service`` consumes its queue, else why not."""
    from kombu import Connection

    queue = HEALTH_QUEUES.get(service, "rpc-%s" % service)
    try:
        with Connection(settings.amqp_uri, connect_timeout=5) as connection:
            _, _, consumers = connection.default_channel.queue_declare(queue, passive=True)
    except Exception as exc:  # any failure is "unhealthy", with the reason
        return "%s: %s" % (queue, exc)
    return None if consumers else "%s has no consumer" % queue


def main(argv: list[str] | None = None) -> int:
    """Run (or ``--check``) a service; call through ``rds_settings.launch``, which
    monkey-patches first."""
    parser = argparse.ArgumentParser(prog="rds-service", description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--config", help="YAML file with extra nameko keys (optional)")
    parser.add_argument("--check", action="store_true",
                        help="exit 0 if a copy of the service is consuming, 1 if not")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print("rds-service %s: %s" % (args.service, exc), file=sys.stderr)
        return 2
    if args.check:
        problem = check(args.service, settings)
        print(problem or "%s is up" % args.service)
        return 1 if problem else 0
    config = nameko_config(args.service, settings, _read_overrides(args.config))

    from nameko.cli.run import run

    logging.config.dictConfig(config["LOGGING"])
    module = importlib.import_module("rds_%s.service" % args.service)
    service_classes = [value for value in vars(module).values()
                       if isinstance(value, type) and getattr(value, "name", None) == args.service
                       and value.__module__ == module.__name__]
    run(service_classes, config)
    return 0

