"""Migration names and listings (``rds_core.migrations``) and the migrator contract:
a name ends up in a command line and a file name on the migration host."""
import uuid

import pytest

from rds_contracts import migrator, registry
from rds_core.migrations import BadListing, check_migration_name, parse_listing


def test_a_listing_is_one_name_per_line_in_order_without_blanks_or_duplicates():
    text = "0001_add_email\n\n  0002_index.v2 \r\n0001_add_email\nm200402-171742\n"
    assert parse_listing(text) == ["0001_add_email", "0002_index.v2", "m200402-171742"]
    assert parse_listing("") == []


@pytest.mark.parametrize("line", [
    "../etc/passwd", "a/b", "a\\\\b", "rm -rf /", "x;reboot", "$(id)", "`id`", "a|b", "-rf",
    ".hidden", "name with space", "x" * 201, "é", "a>b"])
def test_a_bad_line_fails_the_listing_quoting_it_with_its_number(line):
    with pytest.raises(BadListing) as info:
        parse_listing("0001_ok\n%s\n" % line, "post")
    assert "post migration name on line 2: %r" % line[:200] in str(info.value)


def test_names_are_checked_the_same_way_everywhere():
    assert check_migration_name("0001_add_email") == "0001_add_email"
    with pytest.raises(ValueError, match="migration name"):
        check_migration_name("../x")


def migrate_body(**overrides):
    server = {"id": 1, "host": "10.0.0.1", "port": 22, "user": "deploy"}
    body = {"task_id": uuid.uuid4().hex, "project": "shop", "version": "1.00.002.2",
            "release_line": 1, "deploy_path": "apps/shop", "servers": [server],
            "host": server, "type": "pre", "name": "0001_add_email", "direction": "up",
            "script": "psql -f x.sql"}
    body.update(overrides)
    return body


def test_the_migrate_command_round_trips():
    command = registry.parse_command(migrator.MIGRATE, migrate_body())
    assert registry.parse_command(migrator.MIGRATE, command.to_wire()) == command
    assert registry.COMMAND_SERVICE[migrator.MIGRATE] == migrator.SERVICE_NAME


@pytest.mark.parametrize("field,value", [
    ("name", "../../etc/passwd"), ("name", "x; rm -rf /"), ("type", "hard"),
    ("direction", "sideways"), ("script", ""), ("version", "../1"), ("deploy_path", "/")])
def test_the_migrate_command_rejects_a_bad_field_with_its_name(field, value):
    with pytest.raises(registry.InvalidMessage) as info:
        registry.parse_command(migrator.MIGRATE, migrate_body(**{field: value}))
    assert field in str(info.value)


def test_a_build_reports_its_listing_and_bad_names_are_refused_there_too():
    ids = dict(task_id=uuid.uuid4().hex, run_id=uuid.uuid4().hex, seq=3)
    event = registry.parse_event("build_finished", dict(
        servers=[], migrations={"pre": ["0001_a"], "post": []}, **ids))
    assert event.migrations.pre == ["0001_a"]
    with pytest.raises(registry.InvalidMessage, match="migrations.post.0"):
        registry.parse_event("build_finished", dict(
            servers=[], migrations={"pre": [], "post": ["a/b"]}, **ids))
