"""The retention plan (``rds_control.retention.plan``): every rule as a table row.

Each row is a project's releases (written newest first as ``(version, status,
changes)``) and the verdict expected for each. Times are relative to a fixed
``NOW``; the settings are the defaults unless a row says otherwise.
"""
from datetime import UTC, datetime, timedelta

import pytest

from rds_control.retention import (
    DEFAULT_KEEP_RELEASES,
    ReleaseView,
    RetentionSettings,
    Verdict,
    plan,
)
from rds_core.lifecycle import ReleaseStatus

S = ReleaseStatus
V = Verdict
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
SETTINGS = RetentionSettings(min_age=timedelta(days=1), discarded_age=timedelta(hours=6))


def release(number, status, **changes):
    values = {"created_at": OLD - timedelta(hours=number)}
    values.update(changes)
    return ReleaseView(id=number, version="1.00.%03d.%d" % (number, number), status=status,
                       **values)


def v(number):
    return "1.00.%03d.%d" % (number, number)


def verdicts(releases, keep=3, **kwargs):
    result = plan(releases, keep_releases=keep, now=NOW, settings=SETTINGS, **kwargs)
    return {d.release.id: d.verdict for d in result.decisions}


#: (name, releases, plan kwargs, expected verdict by release number)
TABLE = [
    ("keeps the newest N successful, removes the rest",
     [release(n, S.OLD) for n in range(6, 0, -1)], {"keep": 3},
     {6: V.KEPT_BY_COUNT, 5: V.KEPT_BY_COUNT, 4: V.KEPT_BY_COUNT, 3: V.BEYOND_COUNT,
      2: V.BEYOND_COUNT, 1: V.BEYOND_COUNT}),
    ("the live and the previous one stay whatever their position",
     [release(6, S.INSTALLED), release(5, S.INSTALLED), release(4, S.INSTALLED),
      release(3, S.OLD), release(2, S.USED), release(1, S.OLD)],
     {"keep": 2, "previous_version": v(1)},
     {6: V.KEPT_BY_COUNT, 5: V.KEPT_BY_COUNT, 4: V.BEYOND_COUNT, 3: V.BEYOND_COUNT,
      2: V.LIVE, 1: V.PREVIOUS}),
    ("the live release takes a keep slot",
     [release(4, S.USED), release(3, S.OLD), release(2, S.OLD), release(1, S.OLD)],
     {"keep": 2},
     {4: V.LIVE, 3: V.KEPT_BY_COUNT, 2: V.BEYOND_COUNT, 1: V.BEYOND_COUNT}),
    ("a pinned release stays and still takes a slot",
     [release(4, S.OLD), release(3, S.OLD, pinned=True), release(2, S.OLD),
      release(1, S.OLD, pinned=True)], {"keep": 2},
     {4: V.KEPT_BY_COUNT, 3: V.PINNED, 2: V.BEYOND_COUNT, 1: V.PINNED}),
    ("a release with a task running stays",
     [release(3, S.OLD), release(2, S.OLD, task_running=True), release(1, S.OLD)],
     {"keep": 1}, {3: V.KEPT_BY_COUNT, 2: V.TASK_RUNNING, 1: V.BEYOND_COUNT}),
    ("a release that has not settled stays, and takes no slot",
     [release(5, S.BUILDING), release(4, S.CANCELLING), release(3, S.USING),
      release(2, S.OLD), release(1, S.OLD)], {"keep": 2},
     {5: V.UNSETTLED, 4: V.UNSETTLED, 3: V.UNSETTLED, 2: V.KEPT_BY_COUNT,
      1: V.BEYOND_COUNT}),
    ("everything at or above the rollback floor stays",
     [release(n, S.OLD) for n in range(5, 0, -1)], {"keep": 1, "rollback_floor": v(3)},
     {5: V.ROLLBACK_FLOOR, 4: V.ROLLBACK_FLOOR, 3: V.ROLLBACK_FLOOR, 2: V.BEYOND_COUNT,
      1: V.BEYOND_COUNT}),
    ("nothing younger than the minimum age goes",
     [release(3, S.OLD), release(2, S.OLD, created_at=NOW - timedelta(hours=2)),
      release(1, S.OLD, created_at=OLD, deactivated_at=NOW - timedelta(hours=23))],
     {"keep": 1}, {3: V.KEPT_BY_COUNT, 2: V.TOO_YOUNG, 1: V.TOO_YOUNG}),
    ("the minimum age counts from the last time it was live",
     [release(2, S.OLD), release(1, S.OLD, deactivated_at=NOW - timedelta(days=2))],
     {"keep": 1}, {2: V.KEPT_BY_COUNT, 1: V.BEYOND_COUNT}),
    ("failed and cancelled releases never take a slot and go after their own age",
     [release(5, S.FAILED), release(4, S.CANCELLED, created_at=NOW - timedelta(hours=1)),
      release(3, S.OLD), release(2, S.OLD), release(1, S.FAILED)], {"keep": 2},
     {5: V.DISCARDED, 4: V.TOO_YOUNG, 3: V.KEPT_BY_COUNT, 2: V.KEPT_BY_COUNT,
      1: V.DISCARDED}),
    ("a deleted release takes no slot and goes once deleted long enough",
     [release(4, S.OLD, deleted_at=NOW - timedelta(hours=7)),
      release(3, S.INSTALLED, deleted_at=NOW - timedelta(hours=1)),
      release(2, S.OLD), release(1, S.OLD)], {"keep": 2},
     {4: V.DELETED, 3: V.TOO_YOUNG, 2: V.KEPT_BY_COUNT, 1: V.KEPT_BY_COUNT}),
    ("a deleted release that is pinned or the previous one stays",
     [release(3, S.USED), release(2, S.OLD, deleted_at=OLD), release(1, S.OLD, deleted_at=OLD,
                                                                     pinned=True)],
     {"keep": 1, "previous_version": v(2)}, {3: V.LIVE, 2: V.PREVIOUS, 1: V.PINNED}),
    ("a project that never went live is cleaned too (RDS bug 10)",
     [release(n, S.INSTALLED) for n in range(4, 0, -1)], {"keep": 2},
     {4: V.KEPT_BY_COUNT, 3: V.KEPT_BY_COUNT, 2: V.BEYOND_COUNT, 1: V.BEYOND_COUNT}),
    ("versions are compared numerically, not as text",
     [ReleaseView(id=2, version="1.00.1000.10", status=S.OLD, created_at=OLD),
      ReleaseView(id=1, version="1.00.999.9", status=S.OLD, created_at=OLD)], {"keep": 1},
     {2: V.KEPT_BY_COUNT, 1: V.BEYOND_COUNT}),
]


@pytest.mark.parametrize("name, releases, kwargs, expected", TABLE,
                         ids=[row[0] for row in TABLE])
def test_plan(name, releases, kwargs, expected):
    assert verdicts(releases, **kwargs) == expected


def test_it_lists_what_goes_next_oldest_first_with_reasons():
    result = plan([release(n, S.OLD) for n in range(1, 5)], keep_releases=2, now=NOW,
                  settings=SETTINGS)
    assert [d.release.id for d in result.to_remove] == [1, 2]
    assert [d.release.id for d in result.kept] == [4, 3]
    wire = result.to_wire()
    assert [r["version"] for r in wire["remove"]] == [v(1), v(2)]
    assert "newest 2 successful" in wire["keep"][0]["reason"]
    assert "newest 2 successful" in wire["remove"][0]["reason"]


def test_the_default_keeps_five():
    assert DEFAULT_KEEP_RELEASES == 5


@pytest.mark.parametrize("raw, field", [("-1", "RDS_RETENTION_MIN_AGE_HOURS"),
                                        ("nan", "RDS_RETENTION_DISCARDED_AGE_HOURS")])
def test_bad_settings_name_the_key(raw, field):
    from rds_settings.settings import SettingsError, load

    with pytest.raises(SettingsError, match=field):
        load({field: raw})


def test_settings_are_read_in_hours():
    from rds_settings.settings import load

    settings = RetentionSettings.from_settings(load({"RDS_RETENTION_MIN_AGE_HOURS": "48",
                                                     "RDS_RETENTION_DISCARDED_AGE_HOURS": "0.5"}))
    assert settings == RetentionSettings(min_age=timedelta(days=2),
                                         discarded_age=timedelta(minutes=30))
