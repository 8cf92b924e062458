"""rds's configuration, read once per process from ``RDS_*`` environment variables.

Every setting of every process (web, nameko services, the ``rds`` CLI) is a
field of :class:`~rds_settings.settings.Settings`, with its one default and
its meaning; README's "Configuration" table lists them all (a test checks).
``get_settings()`` parses the environment the first time it is called and
returns the same object after that. nameko's own config dict is derived from
it by :func:`rds_settings.nameko.nameko_config`; ``rds-service``
(``rds_settings.launch``) runs a service with it.

Names are imported lazily: ``rds-service`` must monkey-patch with eventlet
before pydantic (or anything holding a lock) is imported.
"""
from typing import Any

__all__ = ["Settings", "get_settings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rds_settings import settings

        return getattr(settings, name)
    raise AttributeError(name)
