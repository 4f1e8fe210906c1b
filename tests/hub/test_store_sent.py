"""Alarms sent from memory on a full disk are known again after a restart, and only those."""

from datetime import timedelta
from pathlib import Path

import pytest

from hub.store.backlog import Backlog
from hub.store.sent import KEEP, SentLedger
from hub.store.store import AcceptedEvent, Batch, Store
from notifier.model import Delivery
from rules.engine import Engine, EngineState
from rules.incidents import Notify
from rules.policy import EscalationPlan, EscalationStep
from tests.support.disks import fill
from tests.support.rules import clock, home
from wire.event import DeviceEvent
from wire.schema import InboundMessage, SentPayload, event_topic

LADDER = EscalationPlan(
    steps=(
        EscalationStep(contact="Alice", channel="sms"),
        EscalationStep(contact="Bob", after_s=120),
    )
)
ENGINE = Engine(home(escalation={"emergency": LADDER}))
NOW = clock("10:00")
PRESS = b'{"type": "pendant.pressed"}'
DIGEST = b"\x07" * 16


def _message(mid: int, *, dup: bool) -> InboundMessage:
    return InboundMessage(
        topic=event_topic("pendant-1"), payload=PRESS, qos=1, mid=mid, dup=dup, retain=False
    )


def _press(mid: int) -> Batch:
    """The press as the engine decides it in a hub that has stored no incident yet."""
    event = DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=NOW)
    _, actions = ENGINE.evaluate(EngineState(), event, now=NOW)
    return Batch(
        events=[AcceptedEvent(event, event_topic("pendant-1"), mid, DIGEST)], actions=actions
    )


@pytest.fixture
async def sent_before(small_disk: Path) -> SentPayload:
    """A hub on a full disk sent the press's alarms from memory; what the broker then kept."""
    published: list[bytes] = []
    ledger = SentLedger(now=NOW)
    ledger.publish_to(published.append)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        filler = fill(small_disk)
        entries, acked = await backlog.commit(_press(7), at=NOW, messages=[_message(7, dup=False)])
        assert entries and acked == []
        for n, entry in enumerate(entries):
            sent = Delivery("sent", ref=f"SM{n}")
            await backlog.record_delivery(entry, "sms", sent, started=NOW, at=NOW)
    filler.unlink()  # the hub stopped (or crashed) with all this in memory alone
    return SentPayload.model_validate_json(published[-1])


async def test_the_redelivered_alarm_is_written_as_sent_not_sent_again(
    small_disk: Path, sent_before: SentPayload
) -> None:
    published: list[bytes] = []
    ledger = SentLedger(sent_before, now=NOW + timedelta(minutes=5))
    ledger.publish_to(published.append)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        entries, _ = await backlog.commit(_press(7), at=NOW, messages=[_message(7, dup=True)])
        assert entries == [], "already sent before the restart"
        stored = await store.notifications()
        assert stored, "written, as sent"
        assert {n.state for n in stored} == {"sent"}
        assert await store.pending_notifications() == []
        refs = await store._fetch("SELECT ref FROM deliveries ORDER BY ref", ())
        assert [r["ref"] for r in refs] == [f"SM{n}" for n in range(len(stored))]
    assert published == [b""], "on the card now: the broker's copy is cleared"


async def test_a_new_press_with_the_same_incident_id_is_sent(
    small_disk: Path, sent_before: SentPayload
) -> None:
    """Ids are numbered from the store: only the broker's redelivery says it is the same one."""
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=SentLedger(sent_before, now=NOW + timedelta(minutes=5)))
        entries, _ = await backlog.commit(_press(9), at=NOW, messages=[_message(9, dup=False)])
        assert entries, "a press of its own: it goes out"
        assert {e.incident_id for e in entries} == {i.incident_id for i in sent_before.incidents}


async def test_a_record_older_than_a_day_is_let_go(
    small_disk: Path, sent_before: SentPayload
) -> None:
    published: list[bytes] = []
    ledger = SentLedger(sent_before, now=NOW + KEEP + timedelta(1))
    ledger.publish_to(published.append)
    assert published == [b""], "the broker's copy goes"
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        entries, _ = await backlog.commit(_press(7), at=NOW, messages=[_message(7, dup=True)])
        assert entries, "too old to be sure: a repeat rather than silence"


async def test_the_redelivered_alarm_on_a_disk_still_full_is_not_sent_either(
    small_disk: Path, sent_before: SentPayload
) -> None:
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=SentLedger(sent_before, now=NOW + timedelta(minutes=5)))
        filler = fill(small_disk)
        entries, _ = await backlog.commit(_press(7), at=NOW, messages=[_message(7, dup=True)])
        assert backlog.failing
        assert entries == []
        filler.unlink()
        await backlog.catch_up()
        assert {n.state for n in await store.notifications()} == {"sent"}


async def test_a_later_step_of_a_stored_incident_is_not_sent_again(small_disk: Path) -> None:
    """The store holds the incident: its id is its own, and its ladder's next step is known."""
    published: list[bytes] = []
    ledger = SentLedger(now=NOW)
    ledger.publish_to(published.append)
    path = small_disk / "hub.db"
    async with Store.open(path) as store:
        backlog = Backlog(store, sent=ledger)
        press = _press(7)
        await backlog.commit(press, at=NOW, messages=[_message(7, dup=False)])
        state, _ = ENGINE.evaluate(EngineState(), press.events[0].event, now=NOW)
        due = ENGINE.next_due(state)
        assert due is not None
        _, step = ENGINE.tick(state, now=due)
        filler = fill(small_disk)
        entries, _ = await backlog.commit(Batch(actions=step), at=due)
        assert entries, "the next step goes out from memory"
        for entry in entries:
            await backlog.record_delivery(entry, "sms", Delivery("sent"), started=due, at=due)
    filler.unlink()
    loaded = SentPayload.model_validate_json(published[-1])
    assert [i.opened_by for i in loaded.incidents] == [None], "known by its stored id"
    async with Store.open(path) as store:
        backlog = Backlog(store, sent=SentLedger(loaded, now=due + timedelta(minutes=1)))
        _, again = ENGINE.tick(state, now=due)  # the restored ladder comes to the same step
        entries, _ = await backlog.commit(Batch(actions=again), at=due)
        assert entries == []
        keys = {a.key for a in again if isinstance(a, Notify)}
        assert {n.state for n in await store.notifications() if n.key in keys} == {"sent"}


@pytest.fixture
async def restarted(small_disk: Path) -> tuple[SentLedger, list[bytes]]:
    """The press's alarm was written, then the card filled and the alarm went: then a crash.

    Returns the ledger as the restarted hub reads it from the broker, and what it publishes.
    """
    published: list[bytes] = []
    ledger = SentLedger(now=NOW)
    ledger.publish_to(published.append)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        entries, _ = await backlog.commit(_press(7), at=NOW, messages=[_message(7, dup=False)])
        assert entries and all(e.id > 0 for e in entries), "written while the card was well"
        filler = fill(small_disk)
        for n, entry in enumerate(entries):
            sent = Delivery("sent", ref=f"SM{n}")
            await backlog.record_delivery(entry, "sms", sent, started=NOW, at=NOW)
        assert backlog.failing, "the card refused the records of the sends"
    filler.unlink()  # the hub crashed with the outcomes in memory alone
    loaded = SentPayload.model_validate_json(published[-1]) if published else None
    again: list[bytes] = []
    ledger = SentLedger(loaded, now=NOW + timedelta(minutes=5))
    ledger.publish_to(again.append)
    return ledger, again


async def test_an_entry_written_before_the_fault_and_sent_in_it_is_not_sent_again(
    small_disk: Path, restarted: tuple[SentLedger, list[bytes]]
) -> None:
    ledger, published = restarted
    async with Store.open(small_disk / "hub.db") as store:
        assert len(await store.pending_notifications()) == 1, "the card has it as pending"
        backlog = Backlog(store, sent=ledger)
        assert await backlog.pending_notifications() == [], "the dispatcher is not handed it"
        [stored] = await store.notifications()
        assert (stored.state, stored.attempts) == ("sent", 1)
        refs = await store._fetch("SELECT ref FROM deliveries", ())
        assert [r["ref"] for r in refs] == ["SM0"]
    assert published == [b""], "on the card now: the broker's copy is cleared"


async def test_an_entry_sent_in_the_fault_on_a_card_still_full_waits_to_be_written(
    small_disk: Path, restarted: tuple[SentLedger, list[bytes]]
) -> None:
    ledger, published = restarted
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        filler = fill(small_disk)
        assert await backlog.pending_notifications() == []
        assert backlog.failing
        assert published == [], "held in memory alone: the broker keeps its record"
        filler.unlink()
        await backlog.catch_up()
        assert {n.state for n in await store.notifications()} == {"sent"}
    assert published == [b""]
