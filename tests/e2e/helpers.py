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

