"""Every message is validated against its contract on receipt."""
import uuid

import pytest

from rds_contracts import builder, registry
from rds_contracts.agents import TaskLog
from rds_contracts.base import MAX_LOG_CHUNK


def build_body(**overrides):
    body = {
        "task_id": uuid.uuid4().hex, "initiator": "alice", "project": "shop",
        "repository": "/srv/git/shop.git", "ref": "main", "version": "1.00.001.1",
        "release_line": 1, "build_script": "make", "deploy_path": "apps/shop",
        "servers": [{"id": 1, "host": "10.0.0.1", "port": 22, "user": "deploy"}],
    }
    body.update(overrides)
    return body


def test_it_parses_a_valid_command_and_round_trips_as_json():
    command = registry.parse_command(builder.BUILD, build_body())
    assert isinstance(command, builder.BuildCommand)
    assert registry.parse_command(builder.BUILD, command.to_wire()) == command
    assert command.upload.concurrency == 8


@pytest.mark.parametrize("field, value", [
    ("project", "../etc"), ("version", "../../x"), ("deploy_path", "/"),
    ("ref", "--upload-pack=x"), ("servers", []), ("task_id", "not-a-uuid"),
    ("build_script", ""), ("repository", "-oProxyCommand=x"),
])
def test_it_rejects_a_bad_field_with_its_name(field, value):
    with pytest.raises(registry.InvalidMessage) as info:
        registry.parse_command(builder.BUILD, build_body(**{field: value}))
    assert field in str(info.value)


def test_it_rejects_unknown_fields():
    with pytest.raises(registry.InvalidMessage, match="surprise: Extra inputs"):
        registry.parse_command(builder.BUILD, build_body(surprise=1))


def test_it_rejects_unknown_names_and_non_objects():
    with pytest.raises(registry.InvalidMessage, match="unknown command"):
        registry.parse_command("reboot", {})
    with pytest.raises(registry.InvalidMessage, match="JSON object"):
        registry.parse_event("task_log", ["not", "a", "dict"])


def test_log_chunks_are_bounded():
    ids = dict(task_id=uuid.uuid4().hex, run_id=uuid.uuid4().hex, seq=1)
    TaskLog(text="x" * MAX_LOG_CHUNK, **ids)
    with pytest.raises(Exception):
        TaskLog(text="x" * (MAX_LOG_CHUNK + 1), **ids)


def test_every_registered_schema_has_one_name():
    assert len(registry.EVENT_NAMES) == len(registry.EVENTS)
    assert set(registry.COMMAND_SERVICE) == set(registry.COMMANDS)
