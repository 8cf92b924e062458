"""Authenticated bus messages: an HMAC-SHA256 signature in every message's headers.

Anyone holding the AMQP login can publish to any exchange: without this, a
forged ``build`` command runs a script on an agent and uploads to servers, and a
forged event rewrites a release. So every message carries
``rds-signature: v1=<hex HMAC-SHA256>`` over::

    <purpose> \\n <routing key> \\n <rds-type> \\n <body as canonical JSON>

with two keys from configuration, one per direction:

* ``BUS_COMMAND_KEY`` signs **commands**: web, pruner and ingest publish them;
  agents verify them. (Agents hold this key too, to verify; what stops a
  stolen agent host from publishing commands is its RabbitMQ user, which may
  not write ``rds.commands``/``rds.broadcast``: ``rds_bus.permissions``.)
* ``BUS_EVENT_KEY`` signs **events**: agents publish them; ingest verifies.
  It also signs the agents' fencing **claims** (the pruner's ``claim_task``
  RPC, purpose ``claim``): a nameko RPC carries no headers we control, so the
  signature travels as the RPC's ``signature`` argument, over
  ``claim \n pruner.claim_task \n claim_task \n <request>``. The request
  names the task, the run, the agent copy and the step, so a signed claim
  cannot be turned into a claim of another task, run or step. A claim
  replayed unchanged asks again what was asked (the answer comes from the
  task row: the same run gets the same token, a run that lost the task stays
  refused), so, like events, claims carry no timestamp.

The routing key is signed, so a command signed for pool ``a`` cannot be
re-routed to pool ``b``; the type is signed, so a body cannot be replayed as
another message. Replaying a message unchanged is harmless by design: every
command and event is idempotent (task id, run id, seq).

A consumer whose key is configured dead-letters anything unsigned or wrongly
signed, naming the reason. With no key configured the bus is unauthenticated
(a warning is logged at start); ``make demo`` and the test system always set
both keys.
"""
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from rds_contracts.registry import InvalidMessage

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "rds-signature"
VERSION = "v1"
COMMAND_KEY = "BUS_COMMAND_KEY"
EVENT_KEY = "BUS_EVENT_KEY"
COMMAND, EVENT, CLAIM = "command", "event", "claim"
#: What a claim signature covers besides the request (in place of routing key and type).
CLAIM_ROUTE, CLAIM_NAME = "pruner.claim_task", "claim_task"


class BadSignature(InvalidMessage):
    """A message that is unsigned or whose signature does not match."""


def canonical(body: object) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no spaces, ASCII only."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


class Signer:
    """Signs and verifies the messages of one ``purpose`` (command or event)."""

    def __init__(self, key: str | bytes | None, purpose: str) -> None:
        self.key = key.encode() if isinstance(key, str) else key
        self.purpose = purpose

    @property
    def enabled(self) -> bool:
        return bool(self.key)

    def signature(self, routing_key: str, name: str, body: object) -> str:
        if self.key is None:
            raise ValueError("no %s signing key is set" % self.purpose)
        message = b"\n".join([self.purpose.encode(), routing_key.encode(), name.encode(),
                              canonical(body)])
        return "%s=%s" % (VERSION, hmac.new(self.key, message, hashlib.sha256).hexdigest())

    def headers(self, routing_key: str, name: str, body: object) -> dict[str, str]:
        """The header to add when publishing (none without a key)."""
        if not self.enabled:
            return {}
        return {SIGNATURE_HEADER: self.signature(routing_key, name, body)}

    def verify(self, routing_key: str, name: str, body: object,
               headers: Mapping[str, object] | None) -> None:
        """Raise BadSignature unless the message is signed with this key (no key: accept)."""
        if not self.enabled:
            return
        given = (headers or {}).get(SIGNATURE_HEADER)
        if not isinstance(given, str) or not given:
            raise BadSignature("unsigned %s %r refused (%s is set)" % (
                self.purpose, name, self.purpose == COMMAND and COMMAND_KEY or EVENT_KEY))
        try:
            expected = self.signature(routing_key, name, body)
        except (TypeError, ValueError) as exc:
            raise BadSignature("%s %r has a body that cannot be signed: %s"
                               % (self.purpose, name, exc)) from None
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise BadSignature("%s %r has a wrong signature (forged, or signed with "
                               "another key)" % (self.purpose, name))


def _key(config: Mapping[str, Any] | None, name: str) -> str | None:
    value = config.get(name) if config is not None else None
    return value or None


def command_signer(config: Mapping[str, Any] | None) -> Signer:
    return Signer(_key(config, COMMAND_KEY), COMMAND)


def event_signer(config: Mapping[str, Any] | None) -> Signer:
    return Signer(_key(config, EVENT_KEY), EVENT)


def claim_signer(config: Mapping[str, Any] | None) -> Signer:
    """Agents sign their claims, and the pruner verifies them, with the event key."""
    return Signer(_key(config, EVENT_KEY), CLAIM)


def sign_claim(signer: Signer, request: object) -> str | None:
    """The ``signature`` argument of a ``claim_task`` call (None without a key)."""
    return signer.headers(CLAIM_ROUTE, CLAIM_NAME, request).get(SIGNATURE_HEADER)


def verify_claim(signer: Signer, request: object, signature: object) -> None:
    """Raise BadSignature unless ``request`` (as received) is signed (no key: accept)."""
    signer.verify(CLAIM_ROUTE, CLAIM_NAME, request, {SIGNATURE_HEADER: signature})


def warn_if_unsigned(signer: Signer, who: str) -> None:
    if not signer.enabled:
        log.warning("%s: %s is not set, so %ss are accepted unsigned: anyone with the AMQP "
                    "login can forge them", who, COMMAND_KEY if signer.purpose == COMMAND
                    else EVENT_KEY, signer.purpose)
