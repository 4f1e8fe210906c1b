"""The hub's answers to carers, against a real store."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.pipeline.desk import HubDesk
from hub.store.store import AcceptedEvent, Batch, NewDevice, Store
from notifier.acks import Acknowledgement
from notifier.replies import not_taken_text
from rules.incidents import IncidentChanged
from tests.notifier.outbox import add_alert
from wire.event import DeviceEvent


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []

    def __call__(self, topic: str, body: bytes, retain: bool) -> None:
        self.messages.append((topic, body, retain))


class Control:
    """The pipeline as the desk sees it: records what it was asked."""

    def __init__(self, *, open_incidents: set[str]) -> None:
        self.open = open_incidents
        self.acks: list[tuple[str, str, str]] = []
        self.occupancy: list[tuple[bool, str]] = []

    async def acknowledge(self, incident_id: str, by: str, via: str = "") -> bool:
        if incident_id not in self.open:
            return False
        self.open.discard(incident_id)
        self.acks.append((incident_id, by, via))
        return True

    async def set_occupancy(self, *, home: bool, by: str) -> None:
        self.occupancy.append((home, by))


def desk(store: Store, published: Published, control: Control | None = None) -> HubDesk:
    answers = HubDesk(
        store, published, zone=ZoneInfo("Europe/London"), clock=lambda: datetime.now(UTC)
    )
    answers.bind(control or Control(open_incidents=set()))
    return answers


async def test_an_acknowledgement_goes_to_the_engine_and_is_published(tmp_path: Path) -> None:
    published = Published()
    control = Control(open_incidents={"pendant-4"})
    async with Store.open(tmp_path / "hub.db") as store:
        ack = Acknowledgement(
            incident_id="pendant-4", contact="Alice", channel="sms", at=datetime.now(UTC)
        )
        await desk(store, published, control).acknowledge(ack)
        await desk(store, published, control).acknowledge(ack)  # the same reply twice

    assert control.acks == [("pendant-4", "Alice", "via sms")]
    [(topic, body, retain)] = published.messages
    assert topic == "telecare/v1/hub/incident/pendant-4/ack"
    assert Acknowledgement.model_validate_json(body) == ack
    assert retain is False


async def test_ok_means_the_newest_open_incident_and_ack_n_that_number(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "hub.db") as store:
        await add_alert(store, "pendant-4")
        await add_alert(store, "fall-5")
        answers = desk(store, Published())

        assert await answers.incident_to_ack("Alice", None) == "fall-5"
        assert await answers.incident_to_ack("Alice", 4) == "pendant-4"
        assert await answers.incident_to_ack("Alice", 9) is None


async def test_status_names_open_alarms_and_the_last_activity(tmp_path: Path) -> None:
    at = datetime(2026, 7, 1, 9, 42, tzinfo=UTC)  # 10:42 in London
    async with Store.open(tmp_path / "hub.db") as store:
        answers = desk(store, Published())
        assert await answers.status_text() == "All OK: no open alarms. No sensor has reported yet."
        device = NewDevice("pir-1", "motion", "motion", "Kitchen", "native", None, None, "config")
        await store.register_devices([device], at=at)
        event = DeviceEvent(
            device_id="pir-1", type="motion.detected", source="native", received_at=at
        )
        await store.commit(Batch(events=[AcceptedEvent(event)]), at=at)
        assert await answers.status_text() == (
            "All OK: no open alarms. Last activity 10:42 Kitchen (motion.detected)."
        )


async def test_home_and_away_set_the_engines_occupancy(tmp_path: Path) -> None:
    control = Control(open_incidents=set())
    async with Store.open(tmp_path / "hub.db") as store:
        answers = desk(store, Published(), control)
        await answers.note_occupancy("Ben", home=True)
        await answers.note_occupancy("Ben", home=False)

    assert control.occupancy == [(True, "Ben"), (False, "Ben")]


async def test_standing_says_who_acknowledged_and_when_in_the_homes_clock(tmp_path: Path) -> None:
    acknowledged_at = datetime(2026, 7, 1, 9, 42, tzinfo=UTC)  # 10:42 in London's summer
    async with Store.open(tmp_path / "hub.db") as store:
        await add_alert(store, "pendant-4")
        [incident] = await store.incidents()
        taken = incident.model_copy(update={"state": "acknowledged", "acknowledged_by": "Alice"})
        change = IncidentChanged(
            incident=taken, previous="firing", reason="acknowledged by Alice", at=acknowledged_at
        )
        await store.commit(Batch(actions=[change]), at=acknowledged_at)
        answers = desk(store, Published())

        standing = await answers.standing("pendant-4")
        missing = await answers.standing("fall-9")

    assert (standing.state, standing.by) == ("acknowledged", "Alice")
    assert standing.since is not None
    assert f"{standing.since:%H:%M}" == "10:42"
    assert not_taken_text(standing, "Ben") == "Alice is already dealing with it (since 10:42)."
    assert not_taken_text(missing, "Ben") == "That alarm is over."
