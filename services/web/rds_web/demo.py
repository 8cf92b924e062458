"""``rds demo``: deploy a sample project to the local app servers, end to end.

Creates a git repository with a tiny static site, a project pointing at it
and at the two loopback sshd app servers (``rdsapp1`` on 127.0.0.1:2201,
``rdsapp2`` on 127.0.0.1:2202, started by ``make demo``), builds version 1,
waits until it is installed, activates it and prints where to look.
"""
import os
import subprocess
from collections.abc import Callable, Sequence

from rds_web.client import ApiClient, ApiError
from rds_web.json_types import JSONObject

PROJECT = "sample-app"
#: An app server: host, port, user.
AppServer = tuple[str, int, str]
APP_SERVERS: tuple[AppServer, ...] = (("127.0.0.1", 2201, "rdsapp1"),
                                      ("127.0.0.1", 2202, "rdsapp2"))
BUILD_SCRIPT = """#!/bin/bash -e
echo "Building $projectName $version (release line $release) in $projectDir"
mkdir -p public
sed "s/@VERSION@/$version/g" index.html.in > public/index.html
echo "$version" > public/VERSION
echo "Built $(ls public | wc -l) files"
"""
INDEX = """<!doctype html>
<title>sample-app</title>
<h1>sample-app @VERSION@</h1>
<p>Deployed by rds.</p>
"""


def make_repository(path: str) -> str:
    """A git repository with the sample site (created once)."""
    if os.path.isdir(os.path.join(path, ".git")):
        return path
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "index.html.in"), "w") as handle:
        handle.write(INDEX)
    env = dict(os.environ, GIT_AUTHOR_NAME="rds demo", GIT_AUTHOR_EMAIL="demo@rds.local",
               GIT_COMMITTER_NAME="rds demo", GIT_COMMITTER_EMAIL="demo@rds.local")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "Sample app"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def project_spec(repository: str, servers: Sequence[AppServer]) -> JSONObject:
    return {
        "name": PROJECT, "repository": repository, "default_ref": "main",
        "deploy_path": "apps/%s" % PROJECT,
        "servers": [{"host": h, "port": p, "user": u} for h, p, u in servers],
        "scripts": {"build": BUILD_SCRIPT},
    }


def run_demo(client: ApiClient, var_dir: str, echo: Callable[[str], object],
             servers: Sequence[AppServer] = APP_SERVERS) -> int:
    repository = make_repository(os.path.abspath(os.path.join(var_dir, "demo", PROJECT)))
    try:
        client.get("/projects/%s" % PROJECT)
        echo("project %s exists" % PROJECT)
    except ApiError as exc:
        if exc.status != 404:
            raise
        client.post("/projects", project_spec(repository, servers))
        echo("created project %s (repository %s)" % (PROJECT, repository))
    release = client.post("/projects/%s/releases" % PROJECT, {"comment": "rds demo"})
    echo("building %s %s ..." % (PROJECT, release["version"]))
    try:
        release = client.wait_release(release["id"], {"installed"}, timeout=300)
        echo("installed on both servers; activating ...")
        client.post("/releases/%d/activate" % release["id"])
        release = client.wait_release(release["id"], {"used"}, timeout=120)
    except ApiError as exc:
        echo("demo failed: %s" % exc)
        echo("build log: rds release show %d --log" % release["id"])
        return 1
    echo("")
    echo("%s %s is live." % (PROJECT, release["version"]))
    for host, port, user in servers:
        echo("  %s@%s:%d  ~%s/apps/%s/current -> releases/%s"
             % (user, host, port, user, PROJECT, release["version"]))
    echo("  cat ~%s/apps/%s/current/public/index.html" % (servers[0][2], PROJECT))
    return 0
