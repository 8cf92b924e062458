"""The settings object: one place for every RDS_* setting, its default and its docs."""
import os
import re
import subprocess
import sys

import pytest

from rds_agent.settings import AgentSettings
from rds_settings import settings as settings_module
from rds_settings.nameko import AGENTS, SERVICES, SETTINGS_KEY, nameko_config, settings_of
from rds_settings.settings import Settings, SettingsError, load

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_defaults_need_no_environment():
    settings = load({})
    assert settings.queue_timeout == 3600 and settings.agent_timeout == 30
    assert settings.amqp_uri.startswith("amqp://")


def test_the_environment_overrides_and_values_are_typed():
    settings = load({"RDS_QUEUE_TIMEOUT": "12.5", "RDS_UI_MAX_STREAMS": "3", "HOME": "/x",
                     "RDS_NOT_A_SETTING": "ignored"})
    assert settings.queue_timeout == 12.5 and settings.ui_max_streams == 3


@pytest.mark.parametrize("name, value", [
    ("RDS_QUEUE_TIMEOUT", "soon"), ("RDS_QUEUE_TIMEOUT", "nan"), ("RDS_QUEUE_TIMEOUT", "inf"),
    ("RDS_AGENT_TIMEOUT", "-1"), ("RDS_UI_MAX_STREAMS", "1.5"),
    ("RDS_SSH_HOST_KEY_POLICY", "trust-everyone"), ("RDS_LOG_LEVEL", "LOUD"),
])
def test_a_bad_value_fails_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as info:
        load({name: value})
    assert name in str(info.value)


def test_every_setting_is_in_the_readme_configuration_table():
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(RDS_[A-Z_]+)`", table))
    assert set(settings_module.fields()) <= documented, (
        set(settings_module.fields()) - documented)
    assert all(settings_module.fields().values()), "every field has a description"


def test_no_service_keeps_a_config_yml_with_settings_in_it():
    leftover = [name for name in SERVICES
                if os.path.exists(os.path.join(ROOT, "services", name, "config.yml"))]
    assert leftover == []


def test_nameko_config_is_derived_from_the_settings():
    settings = load({"RDS_AMQP_URI": "amqp://u:p@broker:5672/v", "RDS_AGENT_POOL": "blue",
                     "RDS_BUILDER_CONCURRENCY": "5", "RDS_LOG_LEVEL": "DEBUG",
                     "RDS_DATABASE_URL": "postgresql://db/rds"})
    builder = nameko_config("builder", settings)
    assert builder["AMQP_URI"] == "amqp://u:p@broker:5672/v"
    assert builder["max_workers"] == 5 and builder["AGENT_POOL"] == "blue"
    assert builder["LOGGING"]["root"]["level"] == "DEBUG"
    assert "DATABASE_URL" not in builder  # agents never touch the database
    pruner = nameko_config("pruner", settings)
    assert pruner["AGENT_POOL"] == "web" and pruner["DATABASE_URL"] == "postgresql://db/rds"
    assert settings_of(pruner) is settings
    for name in AGENTS:
        assert nameko_config(name, settings)[SETTINGS_KEY] is settings
    with pytest.raises(ValueError):
        nameko_config("nonsense", settings)


def test_agent_paths_are_resolved_once_from_the_settings(tmp_path):
    agent = AgentSettings.from_settings(load({"RDS_AGENT_WORK_DIR": str(tmp_path)}))
    assert agent.run_dir == str(tmp_path / "run")
    assert agent.known_hosts == str(tmp_path / "known_hosts")
    assert os.path.isabs(agent.ssh_key_path) and "~" not in agent.ssh_key_path
    explicit = AgentSettings.from_settings(load({"RDS_AGENT_WORK_DIR": str(tmp_path),
                                                 "RDS_AGENT_RUN_DIR": "/run/rds-agent"}))
    assert explicit.run_dir == "/run/rds-agent"


def test_the_web_reads_the_same_object():
    from rds_web import config

    flask = config.from_settings(load({"RDS_UI_SESSION_HOURS": "2", "RDS_SECRET_KEY": "k"}))
    assert flask["UI_SESSION_HOURS"] == 2 and flask["SECRET_KEY"] == "k"
    assert set(config.KEYS.values()) <= set(Settings.model_fields)


def test_rds_service_refuses_a_bad_setting_before_starting():
    env = dict(os.environ, RDS_HEARTBEAT_INTERVAL="often")
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "rds-service"),
                             "builder"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "RDS_HEARTBEAT_INTERVAL" in result.stderr and "Traceback" not in result.stderr


def test_start_up_warnings_we_cannot_act_on_are_silenced():
    code = ("from rds_settings.startup import quiet_warnings; quiet_warnings(); "
            "import eventlet, pkg_resources")
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "deprecated" not in result.stderr, result.stderr


def test_secrets_stay_out_of_the_repr():
    settings = load({"RDS_SECRET_KEY": "s3cret-a", "RDS_BUS_COMMAND_KEY": "s3cret-b",
                     "RDS_BUS_EVENT_KEY": "s3cret-c", "RDS_TOKEN": "s3cret-d",
                     "RDS_METRICS_TOKEN": "s3cret-e", "RDS_HEALTH_TOKEN": "s3cret-f"})
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert settings.bus_event_key == "s3cret-c"
