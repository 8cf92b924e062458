"""No contract lets through an integer the database cannot store."""
import uuid

import pytest

from rds_contracts import agents, builder, registry
from rds_contracts.base import INT32_MAX

IDS = {"task_id": uuid.uuid4().hex, "run_id": uuid.uuid4().hex}


@pytest.mark.parametrize("name, body, field", [
    (agents.TASK_LOG, dict(IDS, seq=INT32_MAX + 1, text="x"), "seq"),
    (builder.SERVER_READY, dict(IDS, seq=1, server_id=2**40, manifest_sha256="a" * 64,
                                files_sent=1, bytes_sent=1), "server_id"),
    (builder.BUILD_FINISHED, dict(IDS, seq=1, servers=[{"server_id": -1, "ok": True}]),
     "servers.0.server_id"),
    (agents.AGENT_HEARTBEAT, {"agent": "a", "service": "s", "pool": "p", "host": "h",
                              "pid": 2**33, "version": "1", "interval": 1,
                              "at": "2026-01-01T00:00:00Z"}, "pid"),
    (agents.AGENT_HEARTBEAT, {"agent": "a", "service": "s", "pool": "p", "host": "h",
                              "pid": 1, "version": "1", "interval": "NaN",
                              "at": "2026-01-01T00:00:00Z"}, "interval"),
])
def test_an_out_of_range_number_is_a_malformed_event(name, body, field):
    with pytest.raises(registry.InvalidMessage) as info:
        registry.parse_event(name, body)
    assert field in str(info.value)


def test_the_largest_storable_values_pass():
    event = registry.parse_event(agents.TASK_LOG, dict(IDS, seq=INT32_MAX, text="x"))
    assert event.seq == INT32_MAX
