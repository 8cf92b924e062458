"""Shared paths, config names, release links, crontab blocks, the side-by-side diff."""
import os

import pytest

from rds_contracts.registry import InvalidMessage, parse_command
from rds_core import shared
from rds_ssh.cron import begin_marker, end_marker, replace_block
from rds_web.ui.diff import side_by_side, stats


@pytest.mark.parametrize("name", [".env", "config/local.yml", "a/b/c.json", "x@y+z-1"])
def test_good_config_names_pass(name):
    assert shared.check_config_name(name) == name


@pytest.mark.parametrize("name, message", [
    ("", "non-empty"), ("/etc/passwd", "relative"), ("../x", "escape"), ("a/../../x", "escape"),
    ("a//b", "escape"), ("./a", "escape"), ("a\0b", "NUL"), ("-rf", "segment"),
    ("a b", "segment"), ("x" * 129, "longer"), (".rds-config.json", "reserved"),
])
def test_bad_config_names_are_refused(name, message):
    with pytest.raises(shared.InvalidSharedPath, match=message):
        shared.check_config_name(name)


def test_shared_paths_stay_inside_shared():
    assert shared.check_shared_path("storage/uploads") == "storage/uploads"
    for path in ("../x", "/abs", "a/../../x", "a\0b"):
        with pytest.raises(shared.InvalidSharedPath):
            shared.check_shared_path(path)


def test_config_content_is_bounded_in_bytes():
    assert shared.check_config_content("é" * (512 * 1024)) == "é" * (512 * 1024)
    with pytest.raises(shared.InvalidSharedPath, match="1 MiB"):
        shared.check_config_content("é" * (512 * 1024 + 1))


@pytest.mark.parametrize("path, target", [
    ("storage", "storage"), ("var/app.db", "var/app.db"), (".env", "config/.env"),
    ("config/local.yml", "config/config/local.yml")])
def test_links_resolve_to_shared_from_inside_the_release(path, target):
    link = shared.link_target(path, target)
    release = "/srv/app/releases/1.00.001.1"
    resolved = os.path.normpath(os.path.join(release, os.path.dirname(path), link))
    assert resolved == "/srv/app/shared/" + target
    assert not link.startswith("/")


def test_release_links_include_config_files_under_config():
    assert shared.release_links(["var/db"], ["storage"], [".env"]) == {
        "storage": "storage", "var/db": "var/db", ".env": "config/.env"}


def test_a_push_command_refuses_escaping_names_and_duplicates():
    base = {"task_id": "a" * 32, "project": "shop", "deploy_path": "apps/shop",
            "servers": [{"id": 1, "host": "h", "user": "u"}], "revision": 1}
    with pytest.raises(InvalidMessage, match="files.0.name"):
        parse_command("push_config", dict(base, files=[{"name": "../x", "content": ""}]))
    with pytest.raises(InvalidMessage, match="listed twice"):
        parse_command("push_config", dict(base, files=[{"name": "a", "content": ""}] * 2))
    with pytest.raises(InvalidMessage, match="revision"):
        parse_command("push_config", dict(base, revision=0))


def test_the_crontab_block_is_replaced_and_the_rest_kept():
    mine = "*/5 * * * * run\n"
    crontab = "MAILTO=ops\n0 1 * * * backup\n"
    first = replace_block(crontab, "shop", mine)
    assert first == crontab + "%s\n*/5 * * * * run\n%s\n" % (begin_marker("shop"),
                                                               end_marker("shop"))
    second = replace_block(first, "shop", "0 * * * * other\n")
    assert "run" not in second and "0 * * * * other" in second and "backup" in second
    assert replace_block(second, "shop", "") == crontab
    assert replace_block(second, "shop-2", "x\n").count(begin_marker("shop")) == 1


def test_side_by_side_aligns_changes():
    rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(r.kind, r.left, r.right) for r in rows] == [
        ("same", "a", "a"), ("chg", "b", "B"), ("same", "c", "c"), ("add", None, "d")]
    assert stats(rows) == (1, 2)
