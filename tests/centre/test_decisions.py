"""The centre's pure decisions: silence and escalation, as functions of rows and `now`."""

from datetime import UTC, datetime, timedelta

from centre.decisions import (
    HubLiveness,
    OpenIncident,
    due_escalations,
    silence_changes,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _incident(**fields: object) -> OpenIncident:
    values: dict[str, object] = {
        "hub_id": "h", "home_id": "h", "incident_id": "i", "cause": "pendant",
        "severity": "emergency", "state": "firing", "opened_at": T0, "family_exhausted": False,
        "escalation": {"emergency": 180},
    }  # fmt: skip
    return OpenIncident(**values | fields)  # type: ignore[arg-type]


def test_an_emergency_comes_to_the_centre_when_its_seconds_are_up_and_not_before():
    assert due_escalations([_incident()], now=T0 + timedelta(seconds=179)) == []
    [due] = due_escalations([_incident()], now=T0 + timedelta(seconds=180))
    assert "180 s" in due.why


def test_a_cause_of_its_own_wins_over_the_severity_and_exhaustion_wins_over_both():
    fall = _incident(cause="fall", escalation={"emergency": 180, "fall": 60})
    assert due_escalations([fall], now=T0 + timedelta(seconds=60))
    exhausted = _incident(family_exhausted=True)
    [due] = due_escalations([exhausted], now=T0)
    assert "every family contact" in due.why


def test_an_accepted_incident_or_a_severity_without_seconds_never_comes():
    later = T0 + timedelta(hours=5)
    assert due_escalations([_incident(state="acknowledged")], now=later) == []
    assert due_escalations([_incident(severity="info", cause="door")], now=later) == []


def test_a_hub_is_silent_after_its_seconds_and_back_when_heard_again():
    heard = HubLiveness("h", "h", T0, None)
    assert silence_changes([heard], now=T0 + timedelta(seconds=179), silent_after_s=180,
                           in_stream={}) == []  # fmt: skip
    [change] = silence_changes([heard], now=T0 + timedelta(seconds=180), silent_after_s=180,
                               in_stream={})  # fmt: skip
    assert change.change == "raise"
    alarmed = HubLiveness("h", "h", T0 + timedelta(seconds=300), 7)
    [back] = silence_changes([alarmed], now=T0 + timedelta(seconds=310), silent_after_s=180,
                             in_stream={})  # fmt: skip
    assert back.change == "clear"


def test_a_heartbeat_the_stream_holds_unwritten_counts_and_a_first_one_is_needed():
    stored = HubLiveness("h", "h", T0, None)
    never = HubLiveness("n", "n", None, None)
    later = T0 + timedelta(hours=1)
    fresh = {"h": later - timedelta(seconds=10), "n": later}
    assert silence_changes([stored, never], now=later, silent_after_s=180, in_stream=fresh) == []
    stale = {"h": later - timedelta(seconds=200)}
    [change] = silence_changes([stored], now=later, silent_after_s=180, in_stream=stale)
    assert (change.change, change.hub.last_heartbeat) == ("raise", stale["h"])
    assert silence_changes([never], now=later, silent_after_s=180, in_stream={}) == []
