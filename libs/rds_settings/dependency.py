"""``SettingsDependency``: the settings object, handed to a nameko service's workers.

Resolved once in ``setup`` (from the container's config, see
``rds_settings.nameko``), so a handler never re-parses configuration.
"""
from nameko.extensions import DependencyProvider

from rds_settings.nameko import settings_of
from rds_settings.settings import Settings


class SettingsDependency(DependencyProvider):
    def setup(self) -> None:
        self.settings: Settings = settings_of(self.container.config)

    def get_dependency(self, worker_ctx: object) -> Settings:
        return self.settings
