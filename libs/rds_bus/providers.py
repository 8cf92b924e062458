"""nameko dependencies of web-side services: a command publisher (``Bus``) and
the verifier of agents' fencing claims (``ClaimSignature``)."""
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider

from rds_bus import signing
from rds_bus.publish import BusPublisher


class Bus(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.publisher = BusPublisher.from_config(config, config[AMQP_URI_CONFIG_KEY])

    def get_dependency(self, worker_ctx: object) -> BusPublisher:
        return self.publisher


class ClaimSignature(DependencyProvider):
    """The signer of claims (``BUS_EVENT_KEY``), to verify them; warns at start when
    no key is set (claims are then accepted unsigned)."""

    def setup(self) -> None:
        self.signer = signing.claim_signer(self.container.config)
        signing.warn_if_unsigned(self.signer, self.container.service_name)

    def get_dependency(self, worker_ctx: object) -> signing.Signer:
        return self.signer
