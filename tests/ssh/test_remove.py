"""remove_release, check_not_live and inspect against two real sshd app servers."""
import os
import pwd

import pytest

from rds_contracts.base import ServerSpec
from rds_core.names import InvalidName
from rds_ssh.activate import switch_servers
from rds_ssh.remove import check_not_live, inspect, remove_release
from tests.ssh.conftest import quiet

V1, V2, V3 = "1.00.001.1", "1.00.002.2", "1.00.003.3"


def place(app_server, deploy_path, *relative, link=None):
    """Create ``relative`` directories (with a file) under the deploy path, owned by the login."""
    entry = pwd.getpwnam(app_server.user)
    made = []
    for rel in relative:
        path = app_server.path(deploy_path, rel)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "index.html"), "w") as handle:
            handle.write(rel)
        made.append(path)
    if link is not None:
        os.symlink(link, app_server.path(deploy_path, "current"))
    for root, dirs, files in os.walk(app_server.path(deploy_path.split("/")[0])):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)
    return made


def releases_on(app_server, deploy_path):
    path = app_server.path(deploy_path, "releases")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_it_removes_a_release_from_every_server_and_nothing_else(servers, app_servers,
                                                                 deploy_path, settings):
    for server in app_servers:
        place(server, deploy_path, "releases/" + V1, "releases/" + V2, "shared/logs",
              link="releases/" + V2)

    results = remove_release(servers, deploy_path, V1, settings, log=quiet)

    assert [(r.ok, r.removed, r.drift, r.current) for r in results] == [
        (True, True, False, "releases/" + V2)] * 2
    assert [releases_on(s, deploy_path) for s in app_servers] == [[V2], [V2]]
    assert all(os.path.isdir(s.path(deploy_path, "shared", "logs")) for s in app_servers)


def test_removing_again_is_a_success_that_removes_nothing(servers, app_servers, deploy_path,
                                                          settings):
    for server in app_servers:
        place(server, deploy_path, "releases/" + V1)
    assert all(r.removed for r in remove_release(servers, deploy_path, V1, settings, log=quiet))

    again = remove_release(servers, deploy_path, V1, settings, log=quiet)

    assert [(r.ok, r.removed, r.error) for r in again] == [(True, False, None)] * 2


def test_a_server_whose_current_points_at_it_keeps_it_and_reports_drift(
        servers, app_servers, deploy_path, settings):
    place(app_servers[0], deploy_path, "releases/" + V1, "releases/" + V2,
          link="releases/" + V1)
    place(app_servers[1], deploy_path, "releases/" + V1, "releases/" + V2,
          link="releases/" + V2)

    results = remove_release(servers, deploy_path, V1, settings, log=quiet)

    assert [(r.ok, r.drift) for r in results] == [(False, True), (True, False)]
    assert "current points at %s" % V1 in results[0].error
    assert releases_on(app_servers[0], deploy_path) == [V1, V2]
    assert releases_on(app_servers[1], deploy_path) == [V2]


def test_current_is_recognised_absolute_or_with_a_trailing_slash(servers, app_servers,
                                                                 deploy_path, settings):
    for server in app_servers:
        place(server, deploy_path, "releases/" + V1,
              link=server.path(deploy_path, "releases", V1) + "/")
    results = remove_release(servers, deploy_path, V1, settings, log=quiet)
    assert [r.drift for r in results] == [True, True]
    assert [releases_on(s, deploy_path) for s in app_servers] == [[V1], [V1]]


def test_a_current_that_is_not_a_symlink_keeps_everything(servers, app_servers, deploy_path,
                                                          settings):
    place(app_servers[0], deploy_path, "releases/" + V1, "current")
    result = remove_release(servers[:1], deploy_path, V1, settings, log=quiet)[0]
    assert not result.ok and "not a symlink" in result.error
    assert releases_on(app_servers[0], deploy_path) == [V1]
    inventory = inspect(servers[:1], deploy_path, settings, log=quiet)[0]
    assert not inventory.ok and "not a symlink" in inventory.error


def test_a_missing_deploy_path_means_the_release_is_gone(servers, deploy_path, settings):
    results = remove_release(servers, deploy_path, V1, settings, log=quiet)
    assert [(r.ok, r.removed) for r in results] == [(True, False)] * 2


def test_an_unreachable_server_keeps_its_copy_and_says_why(servers, app_servers, deploy_path,
                                                           settings):
    for server in app_servers:
        place(server, deploy_path, "releases/" + V1)
    dead = ServerSpec(id=9, host="127.0.0.1", port=1, user="rdsapp1")

    results = remove_release([servers[1], dead], deploy_path, V1, settings, log=quiet)

    assert [r.ok for r in results] == [True, False]
    assert "connection refused" in results[1].error
    assert releases_on(app_servers[1], deploy_path) == []


def test_it_refuses_a_bad_version_before_connecting(servers, deploy_path, settings):
    with pytest.raises(InvalidName):
        remove_release(servers, deploy_path, "../../etc", settings, log=quiet)


def test_it_removes_a_release_switched_live_by_the_real_activator_never(
        upload, servers, app_servers, deploy_path, settings):
    for version in (V1, V2):
        assert all(r.ok for r in upload(version, {"a.txt": version}))
    assert switch_servers(servers, deploy_path, V1, settings, log=quiet).ok

    assert [r.drift for r in remove_release(servers, deploy_path, V1, settings, log=quiet)] \
        == [True, True]
    assert [r.ok for r in remove_release(servers, deploy_path, V2, settings, log=quiet)] \
        == [True, True]
    assert [releases_on(s, deploy_path) for s in app_servers] == [[V1], [V1]]


def test_check_not_live_reads_current_only(servers, app_servers, deploy_path, settings):
    place(app_servers[0], deploy_path, "releases/" + V1, link="releases/" + V1)
    place(app_servers[1], deploy_path, "releases/" + V1)
    results = check_not_live(servers, deploy_path, V1, settings)
    assert [(r.ok, r.drift) for r in results] == [(False, True), (True, False)]
    assert [releases_on(s, deploy_path) for s in app_servers] == [[V1], [V1]]


def test_inspect_lists_current_releases_and_unknown_entries(servers, app_servers,
                                                            deploy_path, settings):
    place(app_servers[0], deploy_path, "releases/" + V1, "releases/" + V2, "releases/junk",
          "releases/.%s.partial-abc123" % V3, link="releases/" + V2)

    first, second = inspect(servers, deploy_path, settings, log=quiet)

    assert first.ok and first.current == "releases/" + V2
    assert first.releases == [V1, V2]
    assert first.unknown == ["junk"]
    assert first.staging == [".%s.partial-abc123" % V3] and first.swept == []
    assert second.ok and (second.current, second.releases) == (None, [])


def test_inspect_sweeps_staging_directories_older_than_the_limit_only(
        servers, app_servers, deploy_path, settings):
    old, fresh = ".%s.partial-0a0a0a" % V3, ".%s.partial-0b0b0b" % V3
    server = app_servers[0]
    place(server, deploy_path, "releases/" + V1, "releases/" + old, "releases/" + fresh)

    def ctime(name):
        return os.lstat(server.path(deploy_path, "releases", name)).st_ctime_ns / 1e9

    fresh_path, owner = server.path(deploy_path, "releases", fresh), pwd.getpwnam(server.user)
    while ctime(fresh) <= ctime(old):  # touch fresh's inode until the kernel clock ticks
        os.lchown(fresh_path, owner.pw_uid, owner.pw_gid)
    changed = {n: ctime(n) for n in (old, fresh)}
    limit = 3600
    # a clock one hour after halfway between the two: only ``old`` is older than the limit
    now = (changed[old] + changed[fresh]) / 2 + limit

    result = inspect(servers[:1], deploy_path, settings, sweep_older_than=limit, now=now,
                     log=quiet)[0]

    assert result.swept == [old] and result.staging == [fresh]
    assert releases_on(server, deploy_path) == [fresh, V1]


def test_inspect_reports_an_unreachable_server(servers, deploy_path, settings):
    dead = ServerSpec(id=9, host="127.0.0.1", port=1, user="rdsapp1")
    result = inspect([dead], deploy_path, settings, log=quiet)[0]
    assert not result.ok and "connection refused" in result.error
