"""Scoring against the labels: on time or not, interruptions at work, the naive baseline."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from firmware_sim.player import schedule
from firmware_sim.scenario import load_scenario
from firmware_sim.scoring import at_work, is_alert, score
from notifier.model import OutboxEntry
from rules.incidents import Incident
from rules.policy import Contact

LONDON = ZoneInfo("Europe/London")


def test_work_hours_are_weekdays_inside_the_window() -> None:
    alice = Contact.model_validate({"name": "Alice", "work_hours": ["Mon-Fri 09:00-17:30"]})
    monday_ten = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)
    assert at_work(alice, monday_ten, LONDON)
    assert not at_work(alice, monday_ten.replace(hour=17, minute=30), LONDON)
    assert not at_work(alice, monday_ten + timedelta(days=5), LONDON)  # Saturday


def _note(key: str, incident_id: str, at: datetime) -> OutboxEntry:
    return OutboxEntry(
        id=1,
        key=key,
        incident_id=incident_id,
        severity="emergency",
        contact="Alice",
        channel="outbox",
        text="t",
        state="delivered",
        created_at=at,
        updated_at=at,
    )


def test_alerts_are_steps_and_follow_ups_are_not() -> None:
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert is_alert(_note("help_call-1/step0/Alice/outbox", "help_call-1", now))
    assert is_alert(_note("help_call-1/r1.step2/Alice/sms", "help_call-1", now))
    assert not is_alert(_note("help_call-1/cancelled/Alice/outbox", "help_call-1", now))


def test_a_late_notice_misses_its_deadline_and_noise_at_work_counts_as_unnecessary() -> None:
    day = load_scenario("typical-day")
    cord = next(s for s in day.timeline if s.device == "pull-cord")
    pressed = day.moment(cord)
    incidents = [
        Incident(
            id="help_call-1",
            cause="help_call",
            severity="emergency",
            state="firing",
            device_id="pull-cord",
            opened_at=pressed,
            text="t",
        ),
        Incident(
            id="water_leak-2",
            cause="water_leak",
            severity="urgent",
            state="firing",
            device_id="leak-kitchen",
            opened_at=pressed.replace(hour=11, minute=20),
            text="t",
        ),
    ]
    late = pressed + timedelta(seconds=31)
    notes = [
        _note("help_call-1/step0/Alice/outbox", "help_call-1", late),
        _note(
            "water_leak-2/step0/Alice/outbox", "water_leak-2", pressed.replace(hour=11, minute=21)
        ),
    ]
    result = score(day, schedule(day), incidents, notes)
    cord_outcome = next(o for o in result.outcomes if o.step.device == "pull-cord")
    assert not cord_outcome.on_time
    assert cord_outcome.delay_s == 31
    assert result.interruptions_at_work == 2
    assert result.unnecessary_at_work == 1, "the splash's leak alert was not needed"
    assert result.baseline_at_work >= 3, "the naive flow forwards the press, splash and fall"


def test_routines_expand_to_steps_every_day() -> None:
    week = load_scenario("working-week")
    motions = [s for s in week.all_steps() if s.note == "routine" and s.device == "motion-kitchen"]
    assert len(motions) == 7 * 15  # hourly from 07:00 to 21:00, seven days
