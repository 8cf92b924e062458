"""The build progress estimate: from the previous successful build of the project."""
from datetime import UTC, datetime, timedelta

from rds_control.board import estimate_progress, step_timings
from rds_db.models import Task

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def task(started, finished=None, steps=None):
    return Task(started_at=started, finished_at=finished, steps={
        name: {state: value.isoformat() for state, value in times.items()}
        for name, times in (steps or {}).items()})


PREVIOUS = task(at(0), at(100), {
    "checkout": {"started": at(0), "finished": at(10)},
    "build": {"started": at(10), "finished": at(70)},
    "upload": {"started": at(70), "finished": at(100)},
})


def test_no_previous_build_means_no_percentage():
    current = task(at(1000), steps={"build": {"started": at(1005)}})
    progress = estimate_progress(current, None, now=at(1020))
    assert progress.percent is None and progress.step == "build"


def test_queued():
    progress = estimate_progress(task(None), PREVIOUS, now=at(5))
    assert progress.percent == 0 and progress.step == "queued"


def test_inside_a_known_step_it_starts_where_that_step_started_last_time():
    current = task(at(1000), steps={"checkout": {"started": at(1000), "finished": at(1030)},
                                    "build": {"started": at(1030)}})
    progress = estimate_progress(current, PREVIOUS, now=at(1060))
    assert progress.step == "build"
    assert progress.percent == 40.0            # (10 + 30) / 100
    assert progress.remaining == 60.0
    assert (progress.base, progress.step_max, progress.total) == (10.0, 60.0, 100.0)


def test_a_step_taking_longer_than_last_time_waits_at_its_end():
    current = task(at(1000), steps={"build": {"started": at(1000)}})
    assert estimate_progress(current, PREVIOUS, now=at(1500)).percent == 70.0


def test_never_above_99_nor_below_1():
    current = task(at(1000), steps={"upload": {"started": at(1000)}})
    assert estimate_progress(current, PREVIOUS, now=at(5000)).percent == 99.0
    current = task(at(1000))
    assert estimate_progress(current, PREVIOUS, now=at(1000)).percent == 1.0


def test_an_unknown_step_falls_back_to_elapsed_time():
    current = task(at(1000), steps={"migrate": {"started": at(1000)}})
    assert estimate_progress(current, PREVIOUS, now=at(1025)).percent == 25.0


def test_step_timings_in_start_order():
    steps = step_timings(PREVIOUS, now=at(200))
    assert [(s.name, s.seconds, s.running) for s in steps] == [
        ("checkout", 10.0, False), ("build", 60.0, False), ("upload", 30.0, False)]
    running = task(at(0), steps={"build": {"started": at(5)}})
    assert [(s.name, s.seconds, s.running) for s in step_timings(running, now=at(20))] == [
        ("build", 15.0, True)]
