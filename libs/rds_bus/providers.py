"""nameko dependency giving web-side services a command publisher."""
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider

from rds_bus.publish import BusPublisher


class Bus(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.publisher = BusPublisher.from_config(config, config[AMQP_URI_CONFIG_KEY])

    def get_dependency(self, worker_ctx: object) -> BusPublisher:
        return self.publisher
