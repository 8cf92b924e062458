"""``setting_timer``: a nameko timer whose interval is a setting.

nameko's ``@timer(interval=...)`` takes its interval when the service class
is defined (at import). ``@setting_timer(interval=lambda s: s.retention_interval)``
instead reads it from the container's settings (``rds_settings.nameko``)
when the container is set up, like ``SettingsDependency``: every container
runs with its own settings (a test's, or the environment's), and nothing is
read at import::

    class PrunerService:
        @setting_timer(interval=lambda settings: settings.retention_interval)
        def remove_old_releases(self) -> None: ...

(``interval`` by keyword: nameko's ``decorator`` takes a lone function
argument for the decorated method.)
"""
from collections.abc import Callable
from typing import Any

from nameko.timer import Timer

from rds_settings.nameko import settings_of
from rds_settings.settings import Settings

Interval = Callable[[Settings], float]


class SettingTimer(Timer):
    """Fires every ``interval(settings)`` seconds (see ``nameko.timer.Timer``)."""

    def __init__(self, interval: Interval, eager: bool = False, **kwargs: Any) -> None:
        self.interval_of = interval
        super().__init__(interval=None, eager=eager, **kwargs)

    def setup(self) -> None:
        self.interval = float(self.interval_of(settings_of(self.container.config)))


setting_timer = SettingTimer.decorator
