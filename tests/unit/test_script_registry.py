"""The script registry: every kind's environment is exactly what its help lists."""
import pytest

from rds_agent.environment import activation_env, build_env
from rds_contracts.activator import ActivateCommand
from rds_contracts.base import ServerSpec
from rds_contracts.builder import BuildCommand
from rds_core.scripts import COMMON_ENV, EXTRA_ENV, SCRIPTS, Where, script_env

SERVERS = [ServerSpec(id=1, host="app1", port=2201, user="deploy"),
           ServerSpec(id=2, host="app2", port=22, user="deploy")]
TASK = "ab" * 16


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_each_kind_gets_exactly_the_variables_its_help_lists(kind):
    env = script_env("shop", "1.00.001.1", 1, "/w", "apps/shop", SERVERS, TASK, "ann",
                     kind=kind)
    assert set(env) == set(SCRIPTS[kind].env)
    assert set(SCRIPTS[kind].env) == set(COMMON_ENV) | set(SCRIPTS[kind].extra_env)
    assert all(name in EXTRA_ENV for name in SCRIPTS[kind].extra_env)


def test_an_undocumented_variable_is_refused():
    with pytest.raises(ValueError, match="build script does not document cron"):
        script_env("shop", "1.00.001.1", 1, "/w", "apps/shop", SERVERS, TASK, "ann",
                   kind="build", cron="* * * * * true")


def test_kinds_not_run_yet_are_flagged_and_the_rest_say_where_they_run():
    assert {k for k, s in SCRIPTS.items() if not s.active} <= {
        "migrations", "migration", "remove"}
    assert SCRIPTS["post_deploy"].where == Where.SERVER
    assert SCRIPTS["build"].where == Where.AGENT and SCRIPTS["build"].required
    assert "deploy" in SCRIPTS


def test_use_and_post_use_get_the_release_line_the_release_dir_and_the_cron():
    command = ActivateCommand(task_id=TASK, initiator="ann", project="shop",
                              version="2.00.003.9", deploy_path="apps/shop", servers=SERVERS,
                              release_line=2, cron="*/5 * * * * php cron.php\n")
    envs = activation_env(command)
    for kind in ("use", "post_use"):
        env = envs[kind]
        assert env["release"] == "2"
        assert env["projectDir"] == "apps/shop/releases/2.00.003.9"
        assert env["cron"] == "*/5 * * * * php cron.php\n"
        assert env["serverTargets"] == "deploy@app1:2201 deploy@app2:22"
        assert env["initiatorUserName"] == "ann"


def test_the_build_env_has_the_checkout_and_the_projects_extra_env():
    command = BuildCommand(task_id=TASK, project="shop", repository="/r", ref="main",
                           version="1.00.001.1", release_line=1, build_script="make",
                           deploy_path="/srv/shop", servers=SERVERS, env={"FOO": "bar"})
    env = build_env(command, "deploy", "/work/builds/x", releaseDir="/srv/shop/releases/x")
    assert env["projectDir"] == "/work/builds/x"
    assert env["releaseDir"] == "/srv/shop/releases/x"
    assert env["FOO"] == "bar" and env["release"] == "1"


def test_the_readme_documents_every_script_kind():
    import os

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    table = readme[readme.index("### Project scripts"):readme.index("### Config files")]
    for kind, spec in SCRIPTS.items():
        assert "`%s`" % kind in table
        for name in spec.extra_env:
            assert "`%s`" % name in table
