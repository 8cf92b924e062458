"""Version numbering: <line>.00.<NNN>.<M>, compared numerically."""
import pytest

from rds_core import versions


def test_it_formats_like_rds():
    assert versions.format_version(1, 5, 6) == "1.00.005.6"


def test_next_version_bumps_both_counters():
    assert versions.next_version(1, 5, 6) == ("1.00.006.7", 6, 7)


def test_counters_past_999_are_not_truncated():
    assert versions.format_version(2, 1234, 77) == "2.00.1234.77"


def test_it_compares_numerically_not_as_strings():
    assert versions.version_key("1.00.1000.7") > versions.version_key("1.00.999.6")
    assert versions.version_key("10.00.001.1") > versions.version_key("9.00.001.1")


def test_it_refuses_negative_counters():
    with pytest.raises(ValueError):
        versions.format_version(1, -1, 2)
