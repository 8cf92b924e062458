"""The pruner's retention and drift timers take their intervals from the settings the
container runs with (``rds_settings.timer``), not from constants read at import."""
import pytest
from nameko.containers import ServiceContainer
from nameko.testing.utils import get_extension

from rds_pruner.service import PrunerService
from rds_settings.nameko import nameko_config
from rds_settings.settings import SettingsError, load
from rds_settings.timer import SettingTimer


def intervals(environ: dict[str, str]) -> dict[str, float]:
    """Each settings-driven timer of a pruner container set up with ``environ``."""
    container = ServiceContainer(PrunerService, nameko_config("pruner", load(environ)))
    result = {}
    for method in ("remove_old_releases", "check_servers_when_due"):
        timer = get_extension(container, SettingTimer, method_name=method)
        timer.setup()
        result[method] = timer.interval
    return result


def test_the_defaults_are_five_minutes_and_one_minute() -> None:
    assert intervals({}) == {"remove_old_releases": 300.0, "check_servers_when_due": 60.0}


def test_the_retention_interval_is_a_setting() -> None:
    assert intervals({"RDS_RETENTION_INTERVAL": "45"})["remove_old_releases"] == 45.0


def test_drift_checks_more_frequent_than_a_minute_are_looked_for_as_often() -> None:
    assert intervals({"RDS_DRIFT_CHECK_INTERVAL": "20"})["check_servers_when_due"] == 20.0
    assert intervals({"RDS_DRIFT_CHECK_INTERVAL": "7200"})["check_servers_when_due"] == 60.0


@pytest.mark.parametrize("value", ["5", "100000", "nan"])
def test_the_retention_interval_is_bounded(value: str) -> None:
    with pytest.raises(SettingsError, match="RDS_RETENTION_INTERVAL"):
        load({"RDS_RETENTION_INTERVAL": value})
