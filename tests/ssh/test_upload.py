"""upload_release against two real sshd app servers."""
import os
import pwd
import secrets

import pytest

from rds_contracts.base import ServerSpec
from rds_core.manifest import MANIFEST_JSON, MANIFEST_SHA256, Manifest, scan_tree
from rds_core.names import InvalidName
from rds_ssh.activate import switch_servers
from rds_ssh.upload import CANCELLED, SKIPPED, upload_release
from rds_testing.appservers import free_port

V1, V2, V3 = "1.00.001.1", "1.00.002.2", "1.00.010.3"


def release(server, deploy_path, version, *parts):
    return server.path(deploy_path, "releases", version, *parts)


def read(path):
    with open(path) as handle:
        return handle.read()


def releases_listing(server, deploy_path):
    return sorted(os.listdir(server.path(deploy_path, "releases")))


def unreachable():
    return ServerSpec(id=99, host="127.0.0.1", port=free_port(), user="rdsapp1")


def test_it_uploads_a_first_release_into_each_users_home(upload, app_servers, deploy_path):
    ready, lines = [], []
    results = upload(V1, {"index.html": "hello", "lib/app.py": "print(1)\n"},
                     on_server_ready=ready.append, log=lines.append)

    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert sorted(r.server.user for r in ready) == ["rdsapp1", "rdsapp2"]
    for result, server in zip(results, app_servers):
        assert result.seeded_from is None and result.files_sent == 2 and result.bytes_sent > 0
        assert read(release(server, deploy_path, V1, "index.html")) == "hello"
        assert read(release(server, deploy_path, V1, "lib/app.py")) == "print(1)\n"
        manifest = Manifest.from_json(read(release(server, deploy_path, V1, MANIFEST_JSON)))
        assert manifest.sha256 == result.manifest_sha256
        assert read(release(server, deploy_path, V1, MANIFEST_SHA256)) == manifest.sha256sum_text()
        assert os.path.isdir(server.path(deploy_path, "shared"))
        assert releases_listing(server, deploy_path) == [V1]  # no staging left behind
        owner = os.stat(release(server, deploy_path, V1, "index.html")).st_uid
        assert owner == pwd.getpwnam(server.user).pw_uid
    assert any("full upload, sending 2 files" in line for line in lines)


def test_it_seeds_the_next_release_with_hard_links(upload, app_servers, deploy_path, tmp_path,
                                                   method):
    upload(V1, {"same.txt": "same", "changed.txt": "old", "gone.txt": "bye", "d/deep.txt": "deep"})
    lines = []
    results = upload(V2, {"same.txt": "same", "changed.txt": "new!", "d/deep.txt": "deep",
                          "added.txt": "hi"}, log=lines.append)

    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert [(r.seeded_from, r.files_sent, r.method) for r in results] == [(V1, 2, method)] * 2
    assert any("seeded from %s, sending 2 changed files" % V1 in line for line in lines)
    assert sum("verified 2 sent files; 2 hard-linked from the verified %s" % V1 in line
               for line in lines) == 2
    for server in app_servers:
        old, new = (lambda *p: release(server, deploy_path, V1, *p),
                    lambda *p: release(server, deploy_path, V2, *p))
        assert os.stat(new("same.txt")).st_ino == os.stat(old("same.txt")).st_ino
        assert os.stat(new("d/deep.txt")).st_ino == os.stat(old("d/deep.txt")).st_ino
        assert os.stat(new("changed.txt")).st_ino != os.stat(old("changed.txt")).st_ino
        assert read(new("changed.txt")) == "new!" and read(old("changed.txt")) == "old"
        assert os.stat(new(MANIFEST_JSON)).st_ino != os.stat(old(MANIFEST_JSON)).st_ino
        assert not os.path.exists(new("gone.txt")) and read(old("gone.txt")) == "bye"
        assert read(new("added.txt")) == "hi"
        assert releases_listing(server, deploy_path) == [V1, V2]
    # packed once per seed group, not once per server
    assert sorted(os.listdir(tmp_path / "work")) == sorted([
        "upload-%s-full.tar" % V1,
        "upload-%s-%s.%s" % (V2, _seed_key(app_servers[0], deploy_path),
                             "d" if method == "rsync" else "tar")])


def _seed_key(server, deploy_path):
    return Manifest.from_json(read(release(server, deploy_path, V1, MANIFEST_JSON))).sha256[:16]


def test_it_seeds_from_the_newest_release_when_current_is_missing(upload, app_servers,
                                                                   deploy_path):
    upload(V1, {"a.txt": "1"})
    upload(V3, {"a.txt": "3"})
    results = upload(V2, {"a.txt": "3"})  # numerically V3 is newest, though not last by name
    assert [r.seeded_from for r in results] == [V3, V3]
    assert [r.files_sent for r in results] == [0, 0]


def test_it_keeps_symlinks_and_modes(upload, app_servers, deploy_path, method):
    files = {"bin/run": "#!/bin/sh\necho hi\n", "data.txt": "x", "private.txt": "p"}
    links = {"latest": "data.txt", "bin/alias": "run"}
    modes = {"bin/run": 0o755, "private.txt": 0o640}
    assert all(r.ok for r in upload(V1, files, links, modes))
    # next release: one link retargeted, one file only changes its mode
    results = upload(V2, files, {"latest": "private.txt", "bin/alias": "run"},
                     {"bin/run": 0o755, "private.txt": 0o600})
    assert all(r.ok for r in results) and [r.files_sent for r in results] == [1, 1]
    for server in app_servers:
        v1, v2 = (lambda *p: release(server, deploy_path, V1, *p),
                  lambda *p: release(server, deploy_path, V2, *p))
        assert os.stat(v1("bin/run")).st_mode & 0o777 == 0o755
        assert os.stat(v2("bin/run")).st_mode & 0o777 == 0o755
        assert os.readlink(v1("latest")) == "data.txt"
        assert os.readlink(v2("latest")) == "private.txt"
        assert os.readlink(v2("bin/alias")) == "run"
        assert os.stat(v1("private.txt")).st_mode & 0o777 == 0o640
        assert os.stat(v2("private.txt")).st_mode & 0o777 == 0o600


def test_it_replaces_a_version_that_is_not_live_and_refuses_the_live_one(
        upload, servers, app_servers, deploy_path, settings):
    upload(V1, {"a.txt": "first"})
    results = upload(V1, {"a.txt": "second"})
    assert all(r.ok and r.seeded_from is None for r in results)
    assert all(read(release(s, deploy_path, V1, "a.txt")) == "second" for s in app_servers)

    assert switch_servers(servers, deploy_path, V1, settings, log=lambda text: None).ok
    results = upload(V1, {"a.txt": "third"})
    assert [r.ok for r in results] == [False, False]
    assert all("refusing to replace the live release" in r.error for r in results)
    assert all(read(release(s, deploy_path, V1, "a.txt")) == "second" for s in app_servers)
    assert all(releases_listing(s, deploy_path) == [V1] for s in app_servers)


def test_an_unreachable_server_fails_within_the_budget(upload, servers, app_servers,
                                                       deploy_path):
    bad = unreachable()
    results = upload(V1, {"a.txt": "a"}, targets=[bad] + servers, max_failures=1)
    assert [r.ok for r in results] == [False, True, True]
    assert "connection refused" in results[0].error and str(bad.port) in results[0].error
    assert all(read(release(s, deploy_path, V1, "a.txt")) == "a" for s in app_servers)


def test_the_failure_budget_skips_the_remaining_servers(upload, servers, app_servers,
                                                        deploy_path):
    results = upload(V1, {"a.txt": "a"}, targets=[unreachable()] + servers,
                     max_failures=0, concurrency=1)
    assert [r.ok for r in results] == [False, False, False]
    assert [r.error for r in results[1:]] == [SKIPPED, SKIPPED]
    assert not any(os.path.exists(s.path(deploy_path)) for s in app_servers)


def test_verification_catches_a_file_that_differs_from_the_manifest(
        servers, app_servers, deploy_path, settings, tmp_path, method):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.txt").write_text("good")
    manifest = scan_tree(str(root))
    (root / "a.txt").write_text("evil")  # corrupted after the manifest was made
    results = upload_release(servers, deploy_path, V1, str(root), manifest, settings,
                             str(tmp_path / "work"), log=lambda text: None, max_failures=2)
    assert [r.ok for r in results] == [False, False]
    assert all("verification failed" in r.error and "a.txt" in r.error for r in results)
    assert all(releases_listing(s, deploy_path) == [] for s in app_servers)


def test_drift_in_the_seed_falls_back_to_a_full_upload(upload, app_servers, deploy_path,
                                                       method):
    upload(V1, {"a.txt": "same", "b.txt": "old"})
    with open(release(app_servers[0], deploy_path, V1, "a.txt"), "w") as handle:
        handle.write("edited on the server")
    with open(release(app_servers[1], deploy_path, V1, "stray.txt"), "w") as handle:
        handle.write("not in the manifest")
    user = pwd.getpwnam(app_servers[1].user)  # a root-owned file could not be hard-linked
    os.chown(release(app_servers[1], deploy_path, V1, "stray.txt"), user.pw_uid, user.pw_gid)
    lines = []
    results = upload(V2, {"a.txt": "same", "b.txt": "new"}, max_failures=2, log=lines.append)
    assert [r.ok for r in results] == [True, True]
    assert [r.seeded_from for r in results] == [None, None]
    assert sum("retrying as a full upload" in line for line in lines) == 2
    assert any("verification failed" in line and "a.txt" in line for line in lines)
    for server in app_servers:
        assert releases_listing(server, deploy_path) == [V1, V2]
        with open(release(server, deploy_path, V2, "a.txt")) as handle:
            assert handle.read() == "same"
    with open(release(app_servers[0], deploy_path, V1, "a.txt")) as handle:
        assert handle.read() == "edited on the server"  # the old release is left as it was


def test_cancel_before_start_touches_nothing(upload, app_servers, deploy_path):
    results = upload(V1, {"a.txt": "a"}, is_cancelled=lambda: True)
    assert [r.error for r in results] == [CANCELLED, CANCELLED]
    assert not any(os.path.exists(s.path(deploy_path)) for s in app_servers)


def test_cancel_during_upload_removes_the_staging_directory(upload, app_servers, deploy_path):
    cancelled = []

    def log(text):
        if "sending" in text:
            cancelled.append(text)

    results = upload(V1, {"a.txt": "a"}, log=log, is_cancelled=lambda: bool(cancelled))
    assert cancelled and all(r.error == CANCELLED for r in results)
    # the server that was sending lost its staging dir; the other may not have started
    existing = [d for d in (s.path(deploy_path, "releases") for s in app_servers)
                if os.path.exists(d)]
    assert existing and all(os.listdir(d) == [] for d in existing)


@pytest.mark.parametrize("deploy_path_, version", [("../etc", V1), ("/srv/../etc", V1),
                                                   ("apps/x", "../../x"), ("apps/x", "1.0")])
def test_bad_names_are_refused_before_any_ssh(deploy_path_, version, settings, tmp_path,
                                              no_ssh):
    with pytest.raises(InvalidName):
        upload_release([unreachable()], deploy_path_, version, str(tmp_path),
                       scan_tree(str(tmp_path)), settings, str(tmp_path / "work"))


def test_a_seed_file_edited_in_place_with_the_same_size_is_caught(upload, app_servers,
                                                                  deploy_path, method):
    upload(V1, {"a.txt": "same", "b.txt": "old"})
    path = release(app_servers[0], deploy_path, V1, "a.txt")
    before = os.stat(path)
    with open(path, "r+") as handle:  # same inode, same size, new content
        handle.write("SAME")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1000))
    lines = []
    results = upload(V2, {"a.txt": "same", "b.txt": "new"}, log=lines.append)
    assert [r.ok for r in results] == [True, True]
    assert [r.seeded_from for r in results] == [None, V1]
    assert any("changed since the seed was verified: a.txt" in line for line in lines)
    assert read(release(app_servers[0], deploy_path, V2, "a.txt")) == "same"


def test_a_seed_file_replaced_by_another_inode_is_caught(upload, app_servers, deploy_path):
    upload(V1, {"a.txt": "same", "b.txt": "old"})
    path = release(app_servers[1], deploy_path, V1, "a.txt")
    st = os.stat(path)
    os.rename(path, path + ".tmp")
    with open(path, "w") as handle:
        handle.write("evil")
    os.chown(path, st.st_uid, st.st_gid)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime and size
    os.unlink(path + ".tmp")
    lines = []
    results = upload(V2, {"a.txt": "same", "b.txt": "new"}, log=lines.append)
    assert [r.seeded_from for r in results] == [V1, None]
    assert any("changed since the seed was verified: a.txt" in line for line in lines)
    assert read(release(app_servers[1], deploy_path, V2, "a.txt")) == "same"


def test_rsync_sends_a_block_delta_of_a_changed_file(upload, app_servers, deploy_path, method):
    big = "".join("line %06d %s\n" % (i, secrets.token_hex(24)) for i in range(25000))  # 1.5 MB
    first = upload(V1, {"big.txt": big})
    assert all(r.ok for r in first)
    results = upload(V2, {"big.txt": big.replace("line 020000", "LINE 020000")})
    assert all(r.ok and r.seeded_from == V1 for r in results), [r.error for r in results]
    for server in app_servers:
        assert read(release(server, deploy_path, V2, "big.txt")).count("LINE 020000") == 1
    if method == "rsync":
        assert all(r.bytes_sent < 100_000 for r in results), [r.bytes_sent for r in results]
    else:  # a tar sends the whole changed file (compressed when that measured worth it)
        assert all(r.bytes_sent > 100_000 for r in results), [r.bytes_sent for r in results]
    assert all(r.bytes_sent < 0.7 * len(big) for r in first)  # hex compresses: zstd was chosen


def test_seed_manifests_come_from_the_cache_not_the_wire(upload, app_servers, deploy_path,
                                                         tmp_path, monkeypatch):
    cache = str(tmp_path / "manifests")
    upload(V1, {"a.txt": "1"}, manifest_cache=cache)
    assert len(os.listdir(cache)) == 1

    def no_read(self, release):
        raise AssertionError("read the seed's manifest over the wire")

    monkeypatch.setattr("rds_ssh.upload._ServerUploader.read_manifest", no_read)
    results = upload(V2, {"a.txt": "2"}, manifest_cache=cache)
    assert [r.seeded_from for r in results] == [V1, V1]
    assert len(os.listdir(cache)) == 2
