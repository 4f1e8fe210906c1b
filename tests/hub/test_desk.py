"""The hub's answers to carers, against a real store."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.desk import OCCUPANCY_TOPIC, HubDesk
from hub.store import AcceptedEvent, Batch, NewDevice, Store
from hub.wire import CommandPayload
from notifier.acks import Acknowledgement
from notifier.model import Delivery
from rules.events import DeviceEvent
from rules.incidents import Notify
from tests.notifier.outbox import add_alert


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []

    def __call__(self, topic: str, body: bytes, retain: bool) -> None:
        self.messages.append((topic, body, retain))


class Told:
    def __init__(self) -> None:
        self.notes: list[Notify] = []

    async def __call__(self, notes: Sequence[Notify]) -> None:
        self.notes.extend(notes)


def desk(store: Store, published: Published, told: Told | None = None) -> HubDesk:
    return HubDesk(
        store,
        published,
        told or Told(),
        zone=ZoneInfo("Europe/London"),
        clock=lambda: datetime.now(UTC),
    )


async def test_an_acknowledgement_is_recorded_published_and_reassures(tmp_path: Path) -> None:
    published = Published()
    async with Store.open(tmp_path / "hub.db") as store:
        await add_alert(store, "pendant-4")
        ack = Acknowledgement(
            incident_id="pendant-4", contact="Alice", channel="sms", at=datetime.now(UTC)
        )
        await desk(store, published).acknowledge(ack)
        log = await store.incident_log("pendant-4")

    assert log[-1]["reason"] == "acknowledged by Alice via sms"
    [(topic, body, retain), (command, order, _)] = published.messages
    assert topic == "telecare/v1/hub/incident/pendant-4/ack"
    assert Acknowledgement.model_validate_json(body) == ack
    assert retain is False
    assert command == "telecare/v1/pendant-1/command"
    assert CommandPayload.model_validate_json(order).command == "reassure"


async def test_the_others_who_were_told_hear_who_is_dealing_with_it(tmp_path: Path) -> None:
    told = Told()
    async with Store.open(tmp_path / "hub.db") as store:
        alice = await add_alert(store, "pendant-4", channel="sms")
        ben = Notify(
            key="pendant-4/step1/Ben/ntfy",
            incident_id="pendant-4",
            severity="emergency",
            contact="Ben",
            channel="ntfy",
            text=alice.text,
            at=datetime.now(UTC),
        )
        [ben_entry] = await store.add_notices([ben], at=datetime.now(UTC))
        for entry in (alice, ben_entry):
            await store.mark_notification(entry.id, Delivery("sent"), at=datetime.now(UTC))
        ack = Acknowledgement(
            incident_id="pendant-4", contact="Alice", channel="ntfy", at=datetime.now(UTC)
        )
        await desk(store, Published(), told).acknowledge(ack)

    [note] = told.notes
    assert (note.contact, note.channel, note.severity) == ("Ben", "ntfy", "info")
    assert note.text == f"Alice is dealing with it: {alice.text}"


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


async def test_home_and_away_are_published_retained(tmp_path: Path) -> None:
    published = Published()
    async with Store.open(tmp_path / "hub.db") as store:
        await desk(store, published).note_occupancy("Ben", home=False)

    [(topic, body, retain)] = published.messages
    assert topic == OCCUPANCY_TOPIC
    assert b'"home":false' in body
    assert retain is True
