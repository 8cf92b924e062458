"""Helpers of the end-to-end tests."""
import os
import select
import subprocess

BUILD_SCRIPT = """#!/bin/bash -e
echo "building $projectName $version for: $servers"
mkdir -p public
cp page.txt public/index.html
echo "$version" > public/VERSION
"""


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=e2e", "-c", "user.email=e2e@rds", *args],
                   cwd=repo, check=True, capture_output=True)


def commit_page(repo, text):
    (repo / "page.txt").write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", text)


def new_repo(path, text):
    """A git repository at ``path`` (branch main) whose first commit has page.txt ``text``."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_page(path, text)
    return path


def installed(api, name, comment="e2e", timeout=180):
    """Build the next version of project ``name``; the release once it is installed."""
    created = api.post("/projects/%s/releases" % name, {"comment": comment})
    return api.wait_release(created["id"], {"installed"}, timeout=timeout)


def activated(api, release_id, body=None, timeout=120):
    """Activate a release (``body``: e.g. an override reason); the release once it is live."""
    api.post("/releases/%d/activate" % release_id, body)
    return api.wait_release(release_id, {"used"}, timeout=timeout)


def config_pushed(api, name, filename, version):
    """A config file's version once its upload is no longer pending (up to ~4 minutes)."""
    url = "/projects/%s/configs/%s/versions/%d?wait=30" % (name, filename, version)
    data = api.get(url)
    for _ in range(8):  # each call long-polls up to 30 s on the server
        if data["upload_state"] != "pending":
            break
        data = api.get(url)
    return data


def read_fifo(path, timeout=120):
    """Block until a line is written to the FIFO ``path`` (fail after ``timeout`` s).

    The build scripts of the tests announce themselves this way, so a test
    waits on the event itself instead of polling.
    """
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # we are a writer too: no EOF
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError("nothing written to %s within %ss" % (path, timeout))
        return os.read(fd, 4096).decode().strip()
    finally:
        os.close(fd)

