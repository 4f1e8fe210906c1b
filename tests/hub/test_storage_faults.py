"""The disk fills up or turns read-only under the running hub: alarms still reach the carer.

The disk is real: the database lives on a filesystem of its own, mounted for the test (root
only, as on CI; elsewhere the tests are skipped). Nothing in the hub is told about the fault.
"""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.errors import StoreError
from hub.store.store import Store
from tests.support.disks import fill, repair, turn_read_only
from tests.support.faults import ALICE, BACK_TEXT, FAILING_TEXT, fault_hub, texts_to_alice
from tests.support.hubs import HubProcess, device_client, eventually, sent_ledger
from tests.support.reliability import record
from tests.support.standins import ThreadedStandIn, TwilioStandIn
from wire.schema import event_topic

ALARM_TEXT = "pendant"


async def _started_hub(
    broker: LocalBroker, workdir: Path, db: Path, twilio_url: str, *, stored: int
) -> HubProcess:
    """The hub running, with `stored` heartbeats written while the disk was well."""
    hub = fault_hub(broker, workdir, db, twilio_url)
    hub.start()
    await _publish(broker, "leak-1", _heartbeats(range(1, stored + 1)))

    async def first_stored() -> bool:
        return await _stored_seqs(db, "leak-1") == list(range(1, stored + 1))

    await eventually(first_stored)
    return hub


async def _filled_under_hub(
    broker: LocalBroker, workdir: Path, disk: Path, twilio_url: str, *, stored: int
) -> tuple[HubProcess, Path]:
    """The hub running on `disk` with `stored` heartbeats written, then the disk filled."""
    hub = await _started_hub(broker, workdir, disk / "hub.db", twilio_url, stored=stored)
    return hub, fill(disk)


async def _publish(broker: LocalBroker, device: str, bodies: list[dict[str, object]]) -> None:
    async with device_client(broker, f"sender-{device}") as client:
        for body in bodies:
            await client.publish(event_topic(device), json.dumps(body), qos=1)


def _heartbeats(seqs: range) -> list[dict[str, object]]:
    return [{"type": "device.heartbeat", "seq": seq} for seq in seqs]


async def _stored_seqs(db: Path, device: str) -> list[int]:
    """The seqs stored from `device`; none while the hub is still creating the database."""
    try:
        async with Store.open(db, readonly=True) as store:
            events = await store.events()
    except StoreError as err:
        if "not been set up" in str(err):
            return []
        raise
    return sorted(
        e.event.seq for e in events if e.event.device_id == device and e.event.seq is not None
    )


def _texts(twilio: TwilioStandIn) -> list[str]:
    return texts_to_alice(twilio)


def _count(twilio: TwilioStandIn, words: str) -> int:
    return sum(words in text for text in _texts(twilio))


async def _told_once(twilio: TwilioStandIn, words: str, *, timeout_s: float = 20.0) -> None:
    """Wait until the carer has had a text saying `words`, once."""

    async def told_once() -> bool:
        return _count(twilio, words) == 1

    await eventually(told_once, timeout_s=timeout_s)


async def _broker_keeps_the_send(broker: LocalBroker, cause: str) -> None:
    """Wait until the broker holds the hub's record of having sent an alert for `cause`."""

    async def kept() -> bool:
        ledger = await sent_ledger(broker)
        return ledger is not None and any(
            i.incident_id.startswith(f"{cause}-") and i.sent for i in ledger.incidents
        )

    await eventually(kept)


async def _alarm_recorded_as_sent(db: Path) -> None:
    """The pendant's alarm is on the card as sent, with its outcome: a restart sends nothing."""
    async with Store.open(db, readonly=True) as store:
        alarms = [n for n in await store.notifications() if n.incident_id.startswith("help_call")]
        assert [n.state for n in alarms] == ["sent"], alarms
        assert await store.pending_notifications() == []


def _duplicates(twilio: TwilioStandIn) -> int:
    return sum(n - 1 for n in Counter(_texts(twilio)).values())


async def _record(name: str, db: Path, sent: int, duplicates: int, worst_s: float) -> None:
    """The figures of a test that passed: heartbeats and the pendant press, sent and stored."""
    stored = len(await _stored_seqs(db, "leak-1")) + len(await _stored_seqs(db, "pendant-1"))
    record(
        "faults",
        name,
        sent=sent,
        stored=stored,
        lost=sent - stored,
        duplicates_to_carer=duplicates,
        notify_s=round(worst_s, 3),
    )


async def _press_and_time(broker: LocalBroker, twilio: TwilioStandIn) -> float:
    """Press the pendant; seconds until its alarm reached the carer (the stand-in's clock)."""
    pressed = datetime.now(UTC)
    await _publish(broker, "pendant-1", [{"type": "pendant.pressed", "seq": 1}])

    async def alarm_sent() -> bool:
        return _count(twilio, ALARM_TEXT) >= 1

    await eventually(alarm_sent)
    (first, *_) = [m for m in twilio.outbound(to=ALICE) if ALARM_TEXT in m["body"]]
    return float((first["created"] - pressed).total_seconds())


@pytest.mark.slow
async def test_disk_full_alarms_go_out_from_memory_and_the_store_catches_up(
    mosquitto: LocalBroker,
    tmp_path: Path,
    small_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    """The disk fills under the hub; 40 heartbeats and a pendant press arrive; space returns.

    40 messages is more than Mosquitto's default window of unacknowledged messages (20), and
    far fewer than the 1000 the shipped broker allows: none is acknowledged until written.
    """
    twilio = TwilioStandIn()
    db = small_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub, filler = await _filled_under_hub(mosquitto, tmp_path, small_disk, url, stored=10)
        hub_processes.append(hub)
        await _publish(mosquitto, "leak-1", _heartbeats(range(11, 51)))
        worst_s = await _press_and_time(mosquitto, twilio)

        await _told_once(twilio, FAILING_TEXT)
        assert await _stored_seqs(db, "leak-1") == list(range(1, 11)), "nothing fits on the disk"
        filler.unlink()

        async def caught_up() -> bool:
            return await _stored_seqs(db, "leak-1") == list(range(1, 51))

        await eventually(caught_up, timeout_s=40)

        await _told_once(twilio, BACK_TEXT, timeout_s=40)
        assert hub.terminate() == 0
        assert await sent_ledger(mosquitto) is None, "all on the card: the broker keeps no record"
    assert _count(twilio, FAILING_TEXT) == 1, "told once per fault, not per event"
    assert _count(twilio, ALARM_TEXT) == 1
    assert _duplicates(twilio) == 0, _texts(twilio)
    assert await _stored_seqs(db, "pendant-1") == [1]
    async with Store.open(db, readonly=True) as store:
        assert await store.pending_notifications() == [], "a restart would send them again"
    await _record("disk full under the running hub", db, 51, _duplicates(twilio), worst_s)


@pytest.mark.slow
async def test_a_crash_during_a_disk_fault_loses_nothing_it_could_not_write(
    mosquitto: LocalBroker,
    tmp_path: Path,
    small_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    """The disk fills; 40 heartbeats and a press arrive; the hub is killed; space returns.

    What the hub could not write was never acknowledged (40 is well within the 1000 messages
    the broker lets be in flight): the broker delivers it all again to the restarted hub.
    Before, all but 16 were acknowledged while held in memory alone, and the crash lost them.
    The alarm went out from memory, and the broker kept the record of it: it goes out once.
    """
    twilio = TwilioStandIn()
    db = small_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub, filler = await _filled_under_hub(mosquitto, tmp_path, small_disk, url, stored=1)
        hub_processes.append(hub)
        # The pendant's messages keep their order: once its press is sent, all 40 were taken.
        press = {"type": "pendant.pressed", "seq": 41}
        await _publish(mosquitto, "pendant-1", [*_heartbeats(range(1, 41)), press])

        async def alarm_sent() -> bool:
            return _count(twilio, ALARM_TEXT) >= 1

        await eventually(alarm_sent)
        await _broker_keeps_the_send(mosquitto, "help_call")
        hub.kill()
        filler.unlink()
        hub.start()

        async def caught_up() -> bool:
            return await _stored_seqs(db, "pendant-1") == list(range(1, 42))

        await eventually(caught_up, timeout_s=40)
        assert hub.terminate() == 0
    assert await _stored_seqs(db, "leak-1") == [1]
    assert _count(twilio, ALARM_TEXT) == 1, "not raised again after the crash"
    await _alarm_recorded_as_sent(db)


@pytest.mark.slow
async def test_read_only_card_alarms_go_out_and_nothing_unstored_is_acknowledged(
    mosquitto: LocalBroker,
    tmp_path: Path,
    ext4_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    """The card turns read-only; heartbeats and a pendant press arrive; the hub is restarted.

    A card that went read-only needs checking before it takes writes again, so the recovery is
    a restart. What the hub could not write was never acknowledged: the broker delivers it again
    to the restarted hub, which stores it. The card kept no record that the alarm was sent, but
    the broker kept the hub's (retained on `telecare/v1/hub/sent`): the restarted hub writes the
    alarm as sent, with its outcome, and does not send it again. Before, the carer got it twice.
    So does the hub's notice of the fault: the restarted hub says instead that it is over.
    """
    twilio = TwilioStandIn()
    db = ext4_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub = await _started_hub(mosquitto, tmp_path, db, url, stored=5)
        hub_processes.append(hub)
        turn_read_only(ext4_disk)
        await _publish(mosquitto, "leak-1", _heartbeats(range(6, 16)))
        worst_s = await _press_and_time(mosquitto, twilio)

        await _told_once(twilio, FAILING_TEXT)
        await _broker_keeps_the_send(mosquitto, "help_call")
        assert hub.terminate() == 0
        repair(ext4_disk, tmp_path / "card.img")
        assert await _stored_seqs(db, "leak-1") == list(range(1, 6))
        hub.start()

        async def caught_up() -> bool:
            return await _stored_seqs(db, "leak-1") == list(range(1, 16))

        await eventually(caught_up, timeout_s=40)
        assert await _stored_seqs(db, "pendant-1") == [1]
        await _told_once(twilio, BACK_TEXT)  # the fault told before the restart is over
        assert hub.terminate() == 0
        assert await sent_ledger(mosquitto) is None, "all on the card now: the broker keeps nothing"
    assert _count(twilio, FAILING_TEXT) == 1, "told once per fault, not per event"
    assert _count(twilio, ALARM_TEXT) == 1, "sent from memory, and not again after the restart"
    assert len(_texts(twilio)) == 3, _texts(twilio)
    await _alarm_recorded_as_sent(db)
    await _record("read-only card, restart after repair", db, 16, _duplicates(twilio), worst_s)


@pytest.mark.slow
async def test_a_hub_started_on_a_full_disk_still_alerts_and_catches_up(
    mosquitto: LocalBroker,
    tmp_path: Path,
    small_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    """The disk filled while the hub was down (or its service restarted): it starts anyway.

    Before, a database the disk would not open was taken for a corrupt one and moved aside.
    """
    twilio = TwilioStandIn()
    db = small_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub = await _started_hub(mosquitto, tmp_path, db, url, stored=3)
        hub_processes.append(hub)
        assert hub.terminate() == 0
        filler = fill(small_disk)
        hub.start()
        await _publish(mosquitto, "leak-1", _heartbeats(range(4, 9)))
        worst_s = await _press_and_time(mosquitto, twilio)

        await _told_once(twilio, FAILING_TEXT)
        filler.unlink()

        await _told_once(twilio, BACK_TEXT, timeout_s=40)
        assert hub.terminate() == 0
    # Opened for the hub alone (no room for the WAL index): read once it has stopped.
    assert await _stored_seqs(db, "leak-1") == list(range(1, 9))
    assert await _stored_seqs(db, "pendant-1") == [1]
    assert _count(twilio, ALARM_TEXT) == 1
    assert _duplicates(twilio) == 0, _texts(twilio)
    await _record("hub started on a full disk", db, 9, _duplicates(twilio), worst_s)


@pytest.mark.slow
async def test_a_new_hub_on_a_full_disk_alerts_and_stores_once_there_is_room(
    mosquitto: LocalBroker,
    tmp_path: Path,
    small_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    """A hub's first start, on a card already full: no database yet, and no room to create one.

    It starts all the same, says so loudly, and alarms go out from memory; once space is freed
    it creates its database and stores what it held. Before, it could not start at all.
    """
    twilio = TwilioStandIn()
    db = small_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        filler = fill(small_disk)
        hub = fault_hub(mosquitto, tmp_path, db, url)
        hub_processes.append(hub)
        hub.start()
        assert "cannot create" in hub.log_path.read_text()
        await _publish(mosquitto, "leak-1", _heartbeats(range(1, 6)))
        worst_s = await _press_and_time(mosquitto, twilio)

        await _told_once(twilio, FAILING_TEXT)
        filler.unlink()

        async def caught_up() -> bool:
            return db.exists() and await _stored_seqs(db, "leak-1") == list(range(1, 6))

        await eventually(caught_up, timeout_s=40)

        await _told_once(twilio, BACK_TEXT, timeout_s=40)
        assert hub.terminate() == 0
    assert await _stored_seqs(db, "pendant-1") == [1]
    assert _count(twilio, ALARM_TEXT) == 1
    assert _duplicates(twilio) == 0, _texts(twilio)
    async with Store.open(db, readonly=True) as store:
        assert {d.id for d in await store.devices()} == {"pendant-1", "door-1", "leak-1"}
        assert await store.pending_notifications() == [], "a restart would send them again"
    await _record("new hub started on a full disk", db, 6, _duplicates(twilio), worst_s)
