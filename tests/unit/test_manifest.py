"""Manifests of built trees and the delta between two of them."""
import os

import pytest

from rds_core.manifest import BadTree, Manifest, plan_delta, scan_tree


def write(root, rel, text, mode=0o644):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    write(root, "index.html", "hello")
    write(root, "bin/run", "#!/bin/sh", 0o755)
    write(root, ".git/HEAD", "ref: x")
    os.symlink("index.html", root / "home.html")
    return root


def test_it_lists_files_dirs_and_symlinks_but_not_the_top_git_dir(tree):
    manifest = scan_tree(tree)
    assert set(manifest.entries) == {"index.html", "bin", "bin/run", "home.html"}
    assert manifest.entries["bin/run"].mode == 0o755
    assert manifest.entries["home.html"].target == "index.html"
    assert manifest.total_bytes == len("hello") + len("#!/bin/sh")


def test_identical_trees_have_identical_manifests(tree):
    assert scan_tree(tree).sha256 == scan_tree(tree).sha256
    assert Manifest.from_json(scan_tree(tree).to_json()).sha256 == scan_tree(tree).sha256


def test_sha256sum_text_is_what_sha256sum_checks(tree):
    text = scan_tree(tree).sha256sum_text()
    assert "  ./index.html\n" in text and "home.html" not in text


def test_delta_sends_changed_and_new_and_removes_stale(tree):
    old = scan_tree(tree)
    write(tree, "index.html", "changed")
    write(tree, "new.txt", "new")
    os.unlink(tree / "bin/run")
    delta = plan_delta(scan_tree(tree), old)
    assert set(delta.send) == {"index.html", "new.txt"}
    assert set(delta.remove) == {"index.html", "bin/run"}


def test_delta_against_nothing_is_everything(tree):
    manifest = scan_tree(tree)
    assert set(plan_delta(manifest, None).send) == set(manifest.entries)


def test_it_refuses_names_the_manifest_cannot_hold(tmp_path):
    write(tmp_path, "bad\nname", "x")
    with pytest.raises(BadTree, match="newline"):
        scan_tree(tmp_path)


def test_its_hash_is_the_hash_of_the_manifest_file_and_is_computed_once(tree, monkeypatch):
    import hashlib
    import json

    manifest = scan_tree(tree)
    text = manifest.to_json()
    assert manifest.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert Manifest.from_json(text).sha256 == manifest.sha256
    assert manifest.links == 1
    assert sorted(e.path for e in manifest.files) == ["bin/run", "index.html"]

    calls = []
    real_dumps = json.dumps
    monkeypatch.setattr("rds_core.manifest.json.dumps",
                        lambda *a, **k: calls.append(1) or real_dumps(*a, **k))
    fresh = Manifest(manifest.entries.values())
    for _ in range(50):
        fresh.sha256, fresh.to_json(), fresh.sha256sum_text()
    assert len(calls) == 1  # serialised once, however often an upload asks
