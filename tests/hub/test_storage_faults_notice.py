"""The hub's "cannot save to its memory card" notice: once per fault, across a crash.

The disk fills under the running hub, which tells the carer; the hub is killed (SIGKILL) and
started again, on a disk still full or once space was freed. The card has no record of the
notice, but the broker kept the hub's (retained on `telecare/v1/hub/sent`): the restarted hub
is in the same fault, does not tell it again, and says "all clear" once the card takes writes.
Before, a restart in the fault told it again, and one after the repair never said all clear.

The disk is real, as in `test_storage_faults.py` (root only; skipped elsewhere, required on CI).
"""

from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.disks import fill
from tests.support.faults import BACK_TEXT, FAILING_TEXT, fault_hub, texts_to_alice
from tests.support.hubs import HubProcess, device_client, eventually, sent_ledger
from tests.support.standins import ThreadedStandIn, TwilioStandIn
from wire.schema import event_topic


def _count(twilio: TwilioStandIn, words: str) -> int:
    return sum(words in text for text in texts_to_alice(twilio))


async def _told(twilio: TwilioStandIn, words: str) -> None:
    async def told() -> bool:
        return _count(twilio, words) >= 1

    await eventually(told, timeout_s=40)


async def _heartbeat(broker: LocalBroker) -> None:
    """Something for the hub to write: a leak sensor's heartbeat."""
    async with device_client(broker, "sender-leak-1") as client:
        await client.publish(event_topic("leak-1"), '{"type": "device.heartbeat"}', qos=1)


@pytest.mark.slow
@pytest.mark.parametrize("freed_before_restart", [False, True], ids=["in-the-fault", "repaired"])
async def test_the_fault_is_told_once_and_its_end_told_after_a_crash(
    mosquitto: LocalBroker,
    tmp_path: Path,
    small_disk: Path,
    hub_processes: list[HubProcess],
    freed_before_restart: bool,
) -> None:
    twilio = TwilioStandIn()
    db = small_disk / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub = fault_hub(mosquitto, tmp_path, db, url)
        hub_processes.append(hub)
        hub.start()
        filler = fill(small_disk)
        await _heartbeat(mosquitto)  # the hub finds the fault by its own write

        async def broker_keeps_the_notice() -> bool:
            ledger = await sent_ledger(mosquitto)
            return ledger is not None and any(
                i.cause == "storage_failing" and i.sent for i in ledger.incidents
            )

        await _told(twilio, FAILING_TEXT)
        await eventually(broker_keeps_the_notice)
        hub.kill()
        restarted_at = len(hub.log_path.read_text())
        if freed_before_restart:
            filler.unlink()
        hub.start()
        if not freed_before_restart:

            async def in_the_fault_again() -> bool:
                return "store refused" in hub.log_path.read_text()[restarted_at:]

            await eventually(in_the_fault_again)
            filler.unlink()
        await _told(twilio, BACK_TEXT)
        assert hub.terminate() == 0
        assert await sent_ledger(mosquitto) is None, "on the card now: the broker keeps none"
    assert _count(twilio, FAILING_TEXT) == 1, "told once per fault, not again after the crash"
    assert _count(twilio, BACK_TEXT) == 1
    async with Store.open(db, readonly=True) as store:
        [fault] = [i for i in await store.incidents() if i.id.startswith("storage_failing")]
        assert fault.state == "resolved", fault
        told = [n for n in await store.notifications() if n.incident_id == fault.id]
        assert told and {n.state for n in told} == {"sent"}, "the card has the notice, as sent"
