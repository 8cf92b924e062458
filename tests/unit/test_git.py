"""Per-agent git mirrors: clone once, fetch after; fresh checkouts."""

import pytest

from rds_agent.git import GitError, Mirrors
from tests.e2e.helpers import git


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("one")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "one")
    return path


def test_it_clones_once_then_fetches(repo, tmp_path):
    mirrors, out = Mirrors(str(tmp_path / "agent")), []
    mirrors.update(str(repo), out.append)
    (repo / "a.txt").write_text("two")
    git(repo, "commit", "-q", "-am", "two")
    mirrors.update(str(repo), out.append)
    assert out[0].startswith("Cloning mirror") and any(o.startswith("Updating mirror") for o in out)
    commit = mirrors.resolve(str(repo), "main")
    workspace = mirrors.checkout(str(repo), commit, str(tmp_path / "ws"), out.append)
    assert (tmp_path / "ws" / "a.txt").read_text() == "two" and workspace


def test_an_unknown_ref_is_a_clear_error(repo, tmp_path):
    mirrors = Mirrors(str(tmp_path / "agent"))
    mirrors.update(str(repo), lambda text: None)
    with pytest.raises(GitError, match="does not name a commit"):
        mirrors.resolve(str(repo), "nope")


def test_an_unreachable_repository_is_a_clear_error(tmp_path):
    with pytest.raises(GitError, match="clone failed"):
        Mirrors(str(tmp_path / "agent")).update(str(tmp_path / "missing"), lambda text: None)
