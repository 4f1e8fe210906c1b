"""The hub's own "cannot save to its card" notice is recorded like an alarm sent from memory.

No message opened it (the hub raised it of itself), so the broker's redelivery cannot tell it
again: it is known by its cause. Sent once per fault: not again after a restart in the same
fault, nor after one once the card was repaired; a later fault gets a notice of its own.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.store.backlog import Backlog
from hub.store.sent import FAULT_TAG, SentLedger
from hub.store.store import AcceptedEvent, Batch, Store
from notifier.model import Delivery
from rules.engine import Engine, EngineState
from rules.incidents import Notify
from tests.support.disks import fill
from tests.support.rules import clock, home
from wire.event import HUB_DEVICE_ID, DeviceEvent
from wire.schema import SentPayload

ENGINE = Engine(home())
NOW = clock("10:00")
LATER = NOW + timedelta(minutes=5)


def _hub_event(
    kind: str, at: datetime, state: EngineState | None = None
) -> tuple[EngineState, Batch]:
    """The hub's own event as the engine decides it (by default in a hub that stored nothing)."""
    event = DeviceEvent(device_id=HUB_DEVICE_ID, type=kind, received_at=at)
    state, actions = ENGINE.evaluate(state or EngineState(), event, now=at)
    return state, Batch(events=[AcceptedEvent(event)], actions=actions)


def _fault(at: datetime) -> Batch:
    _, batch = _hub_event("hub.storage_failing", at)
    assert any(isinstance(a, Notify) for a in batch.actions), "the carers are told"
    return batch


@pytest.fixture
async def told(small_disk: Path) -> SentPayload:
    """The card refused the fault's own batch; its notice went from memory; then a crash."""
    published: list[bytes] = []
    ledger = SentLedger(now=NOW)
    ledger.publish_to(published.append)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        filler = fill(small_disk)
        entries, _ = await backlog.commit(_fault(NOW), at=NOW)
        assert backlog.failing and entries
        for n, entry in enumerate(entries):
            await backlog.record_delivery(
                entry, "sms", Delivery("sent", ref=f"SM{n}"), started=NOW, at=NOW
            )
    filler.unlink()
    assert published, "the broker keeps the hub's record of the notice"
    return SentPayload.model_validate_json(published[-1])


def _restarted(told: SentPayload) -> tuple[SentLedger, list[bytes]]:
    """The ledger as the restarted hub reads it from the broker, and what it publishes."""
    published: list[bytes] = []
    ledger = SentLedger(told, now=LATER)
    ledger.publish_to(published.append)
    return ledger, published


def test_the_notice_is_kept_on_the_broker_known_by_its_cause(told: SentPayload) -> None:
    [incident] = told.incidents
    assert incident.cause == "storage_failing"
    assert incident.opened_by == [FAULT_TAG]
    assert SentLedger(told, now=LATER).fault_told


async def test_a_restart_in_the_same_fault_does_not_send_it_again(
    small_disk: Path, told: SentPayload
) -> None:
    ledger, published = _restarted(told)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        filler = fill(small_disk)
        entries, _ = await backlog.commit(_fault(LATER), at=LATER)
        assert backlog.failing
        assert entries == [], "told before the restart: not again"
        assert published == [], "still on the broker alone: a second crash knows it too"
        filler.unlink()
        await backlog.catch_up()
        stored = await store.notifications()
        assert stored and {n.state for n in stored} == {"sent"}
        refs = await store._fetch("SELECT ref FROM deliveries ORDER BY ref", ())
        assert [r["ref"] for r in refs] == [f"SM{n}" for n in range(len(stored))]
    assert published == [b""], "on the card now: the broker's copy is cleared"


async def test_after_the_repair_it_is_written_as_sent_and_a_later_fault_is_told(
    small_disk: Path, told: SentPayload
) -> None:
    ledger, published = _restarted(told)
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        state, raised = _hub_event("hub.storage_failing", LATER)  # raised at start
        entries, _ = await backlog.commit(raised, at=LATER)
        assert entries == [], "the card takes writes: the fault is written, its notice as sent"
        assert {n.state for n in await store.notifications()} == {"sent"}
        assert published == [b""]
        assert not ledger.fault_told
        state, back = _hub_event("hub.storage_back", LATER, state)
        entries, _ = await backlog.commit(back, at=LATER)
        assert entries, "and the carers are told it is over"
        filler = fill(small_disk)
        later = LATER + timedelta(hours=2)
        _, again = _hub_event("hub.storage_failing", later, state)
        entries, _ = await backlog.commit(again, at=later)
        assert backlog.failing
        assert entries, "a new fault: its own notice"
        filler.unlink()


async def test_a_later_step_sent_in_the_fault_is_let_go_once_the_card_takes_writes(
    small_disk: Path, told: SentPayload
) -> None:
    """The fault's ladder had gone further before the crash than the restarted hub goes: the
    card takes writes at once, so that step never comes again, and the record must not make
    the next start raise the fault once more."""
    [incident] = told.incidents
    later_step = incident.sent[0].model_copy(update={"key": f"{incident.sent[0].key}.later"})
    further = incident.model_copy(update={"sent": [*incident.sent, later_step]})
    ledger, published = _restarted(told.model_copy(update={"incidents": [further]}))
    async with Store.open(small_disk / "hub.db") as store:
        backlog = Backlog(store, sent=ledger)
        state, raised = _hub_event("hub.storage_failing", LATER)  # raised at start
        assert (await backlog.commit(raised, at=LATER))[0] == []
        await backlog.catch_up()  # the card takes writes: the fault is over
        _, back = _hub_event("hub.storage_back", LATER, state)
        await backlog.commit(back, at=LATER)
    assert not ledger.fault_told, "a restart now would raise the fault again"
    assert published[-1] == b"", "the broker's copy is cleared"
