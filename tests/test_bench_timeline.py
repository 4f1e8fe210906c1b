"""bench.timeline pairs each alert with the traced hub's notes, and refuses what does not pair."""

from typing import Any

import pytest

from bench.latency import Sent
from bench.phones import Arrival
from bench.timeline import SEGMENTS, Alarm, TimelineError, bands, pair_up, run

PRESS = "Mum pressed the pendant-01 (room 01) at 10:42 and needs help."
CANCEL = "All OK: Mum cancelled the pendant alarm at 10:42."


def _notes(*batches: tuple[list[int], int, int, int], sends: list[tuple[int, str]]) -> Any:
    return {
        "batches": [
            {"read_ns": read, "began_ns": began, "commit_ns": commit, "committed_ns": done}
            for read, began, commit, done in batches
        ],
        "sends": [{"at_ns": at, "text": text} for at, text in sends],
    }


def test_each_alert_is_cut_at_its_own_moments_its_pushes_paired_by_kind() -> None:
    sent = [Sent("press", 1.0), Sent("cancel", 2.0)]
    arrivals = [
        Arrival(2.000_900, "ntfy", "alice", CANCEL),  # pushed in another order than read
        Arrival(2.000_500, "sms", "+44", CANCEL),  # the SMS is not the push: left out
        Arrival(1.001_000, "ntfy", "alice", PRESS),
    ]
    notes = _notes(
        ([1_000_100_000], 1_000_200_000, 1_000_400_000, 1_000_700_000),
        ([2_000_100_000], 2_000_150_000, 2_000_200_000, 2_000_300_000),
        sends=[(2_000_400_000, CANCEL), (1_000_800_000, PRESS)],
    )

    press, cancel = (alarm.segments() for alarm in pair_up(sent, arrivals, notes))

    assert press == pytest.approx(
        {
            "publish>read": 0.1,
            "read>batch": 0.1,
            "decide": 0.2,
            "commit": 0.3,
            "commit>send": 0.1,
            "send>stand-in": 0.2,
            "total": 1.0,
        }
    )
    assert cancel["commit"] == pytest.approx(0.1)
    assert cancel["send>stand-in"] == pytest.approx(0.5)
    assert cancel["total"] == pytest.approx(0.9)


def test_notes_that_do_not_pair_up_are_refused_by_name() -> None:
    sent = [Sent("press", 1.0)]
    push = [Arrival(1.001, "ntfy", "alice", PRESS)]
    batch = ([1_000_100_000], 1_000_200_000, 1_000_300_000, 1_000_400_000)

    with pytest.raises(TimelineError, match="1 alerts published, 0 read by the hub"):
        pair_up(sent, push, _notes(sends=[(1_000_500_000, PRESS)]))
    with pytest.raises(TimelineError, match="press: 1 alerts, 0 sends, 1 pushes"):
        pair_up(sent, push, _notes(batch, sends=[(1_000_500_000, CANCEL)]))
    with pytest.raises(TimelineError, match="a push that is no alert: 'Hello'"):
        pair_up(sent, [*push, Arrival(1.002, "ntfy", "alice", "Hello")], _notes(batch, sends=[]))


def test_the_bands_are_taken_by_total() -> None:
    alarms = [Alarm(0, 1, 2, 3, 4, 5, n * 1_000_000) for n in range(6, 106)]  # totals 6..105 ms

    table = bands(alarms)

    assert table["p40-p60"]["total"] == pytest.approx(55.5)  # the 41st to the 60th
    assert table["slowest 2%"]["total"] == pytest.approx(104.5)  # the last two
    assert table["slowest 2%"]["send>stand-in"] == pytest.approx(104.5 - 5e-6)
    assert table["p40-p60"]["decide"] == pytest.approx(1e-6)


@pytest.mark.slow
def test_a_traced_hub_accounts_for_every_push_in_order() -> None:
    alarms = run(phases=1, messages=200, rate=200.0)

    assert len(alarms) == 80, "every alert of the measured phase, none of the warm-up's"
    for alarm in alarms:
        spans = alarm.segments()
        # A wake-up that reads several packets may begin before the last of them is published.
        assert spans["publish>read"] + spans["read>batch"] >= 0, spans
        assert all(spans[name] >= 0 for name in SEGMENTS[2:]), spans
