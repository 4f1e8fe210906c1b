"""The hub's wall clock: a step is told from the monotonic clock's steady count."""

from pathlib import Path

from hub.service.clock import WallClock


class _Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_step_of_the_wall_clock_is_told_once_and_steady_time_is_not(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    offset.write_text("0\n")
    monotonic = _Monotonic()
    clock = WallClock(offset_file=offset, monotonic=monotonic)
    assert clock.step() is None
    offset.write_text("-3600\n")
    step = clock.step()
    assert step is not None
    assert abs(step.total_seconds() + 3600) < 1
    assert clock.step() is None, "told once"
