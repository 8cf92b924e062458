"""Names, versions and paths that could escape a directory are refused."""
import pytest

from rds_core import names


@pytest.mark.parametrize("name", ["shop", "a", "my-app.v2", "x_1", "a" * 63])
def test_it_accepts_project_names(name):
    assert names.check_project_name(name) == name


@pytest.mark.parametrize("name", ["", "..", ".", "../etc", "a/b", "Shop", "-x", ".hidden",
                                  "a" * 64, "a b", "x\n", None, 5])
def test_it_refuses_project_names_that_could_escape(name):
    with pytest.raises(names.InvalidName):
        names.check_project_name(name)


@pytest.mark.parametrize("version", ["1.00.001.1", "12.00.1234.98765"])
def test_it_accepts_versions(version):
    assert names.check_version(version) == version


@pytest.mark.parametrize("version", ["../../x", "1.00.01.1", "1.0.001.1", "1.00.001",
                                     "1.00.001.1/..", "v1.00.001.1", ""])
def test_it_refuses_malformed_versions(version):
    with pytest.raises(names.InvalidName):
        names.check_version(version)


@pytest.mark.parametrize("path, normalised", [
    ("apps/shop", "apps/shop"), ("/var/www/shop/", "/var/www/shop"), ("srv//app", None),
])
def test_it_normalises_deploy_paths(path, normalised):
    if normalised is None:
        with pytest.raises(names.InvalidName):
            names.check_deploy_path(path)
    else:
        assert names.check_deploy_path(path) == normalised


@pytest.mark.parametrize("path", ["../etc", "apps/../../etc", "/", "", "apps/./x", ".ssh",
                                  "apps/-rf", "a b", "apps/$(reboot)", "apps;rm", "~/x"])
def test_it_refuses_deploy_paths_that_could_escape(path):
    with pytest.raises(names.InvalidName):
        names.check_deploy_path(path)


def test_release_dir_joins_only_checked_parts():
    assert names.release_dir("apps/shop", "1.00.001.1") == "apps/shop/releases/1.00.001.1"
    with pytest.raises(names.InvalidName):
        names.release_dir("apps/shop", "../../etc")


@pytest.mark.parametrize("ref", ["main", "release/1.2", "v1.0", "a" * 40])
def test_it_accepts_git_refs(ref):
    assert names.check_git_ref(ref) == ref


@pytest.mark.parametrize("ref", ["--upload-pack=evil", "-x", "a..b", "a b", "main.lock", ""])
def test_it_refuses_git_refs_that_could_be_options(ref):
    with pytest.raises(names.InvalidName):
        names.check_git_ref(ref)


@pytest.mark.parametrize("host", ["127.0.0.1", "app-1.example.com", "::1"])
def test_it_accepts_hosts(host):
    assert names.check_host(host) == host


@pytest.mark.parametrize("host", ["-oProxyCommand=x", "a b", "", "host;rm"])
def test_it_refuses_hosts(host):
    with pytest.raises(names.InvalidName):
        names.check_host(host)
