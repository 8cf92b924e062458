"""The release state machine."""
import pytest

from rds_core.lifecycle import ReleaseStatus as S
from rds_core.lifecycle import can_transition, is_forward


@pytest.mark.parametrize("current, target", [
    (S.NEW, S.BUILDING), (S.BUILDING, S.BUILT), (S.BUILT, S.INSTALLING),
    (S.INSTALLING, S.INSTALLED), (S.INSTALLED, S.USING), (S.USING, S.USED), (S.USED, S.OLD),
    (S.OLD, S.USING), (S.BUILDING, S.FAILED), (S.BUILDING, S.CANCELLING),
    (S.CANCELLING, S.CANCELLED), (S.USING, S.INSTALLED), (S.USING, S.OLD),
    (S.FAILED, S.NEW), (S.CANCELLING, S.INSTALLED),
])
def test_it_allows_the_lifecycle(current, target):
    assert can_transition(current, target)


@pytest.mark.parametrize("current, target", [
    (S.USED, S.USING), (S.OLD, S.USED), (S.INSTALLED, S.BUILDING), (S.FAILED, S.INSTALLED),
    (S.CANCELLED, S.BUILDING), (S.USED, S.FAILED), (S.NEW, S.USED), (S.OLD, S.CANCELLED),
])
def test_it_refuses_jumps(current, target):
    assert not can_transition(current, target)


def test_build_pipeline_only_moves_forward():
    assert is_forward(S.BUILDING, S.INSTALLING)
    assert not is_forward(S.INSTALLING, S.BUILDING)
    assert not is_forward(S.BUILT, S.BUILT)
