"""A notification the card held as pending when it failed, sent during the fault: sent once.

The ladder's next step is written while the card is well, and its provider asks the hub to try
again later; the card turns read-only meanwhile, so the step goes out while the card refuses to
record it. The hub is killed (SIGKILL), the card repaired, the hub started again: the card still
has the step as pending, which the dispatcher sends at start. The broker kept the hub's record
of the send (retained on `telecare/v1/hub/sent`): the restarted hub writes it on the entry and
does not send it again. Before, the carer got that step twice.

The disk is real, as in `test_storage_faults.py` (root only; skipped elsewhere, required on CI).
"""

import json
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from notifier.model import OutboxEntry
from tests.support.disks import repair, turn_read_only
from tests.support.hubs import (
    HubProcess,
    config_data,
    device_client,
    eventually,
    sent_ledger,
    write_toml,
)
from tests.support.pushover_standin import APP_TOKEN, BEN_USER, PushoverStandIn
from tests.support.standins import Fault, ThreadedStandIn, TwilioStandIn, twilio_toml
from wire.schema import event_topic

ALICE = "+447700900123"
REFUSALS = 5  # the provider's "try again in 2 s": the step waits while the card fails


def _hub(workdir: Path, db: Path, broker: LocalBroker, twilio: str, pushover: str) -> HubProcess:
    """Alice is told by SMS at once; Ben, the ladder's next step, by Pushover a second later."""
    contacts = [{"name": "Alice", "phone": ALICE}, {"name": "Ben", "pushover_user": BEN_USER}]
    data = config_data(broker, workdir, store={"path": str(db)}, contacts=contacts)
    path = write_toml(workdir / "hub.toml", data)
    path.write_text(
        path.read_text()
        + twilio_toml(twilio)
        + f"""
[pushover]
app_token = "{APP_TOKEN}"
api_base = "{pushover}"

[escalation.emergency]
steps = [
    {{ contact = "Alice", channel = "sms", after_s = 0 }},
    {{ contact = "Ben", channel = "pushover", after_s = 1 }},
]

[escalation.urgent]
steps = [{{ contact = "Alice", channel = "sms", after_s = 0 }}]
"""
    )
    return HubProcess(path, workdir / "hub.log")


async def _bens_step(db: Path) -> OutboxEntry | None:
    """Ben's entry in the outbox on the card, if it is there."""
    async with Store.open(db, readonly=True) as store:
        return next((n for n in await store.notifications() if n.contact == "Ben"), None)


@pytest.mark.slow
async def test_a_step_pending_on_the_card_and_sent_in_the_fault_is_not_sent_again(
    mosquitto: LocalBroker,
    tmp_path: Path,
    ext4_disk: Path,
    hub_processes: list[HubProcess],
) -> None:
    db = ext4_disk / "hub.db"
    pushover = PushoverStandIn()
    pushover.faults.extend(Fault(429, retry_after="2") for _ in range(REFUSALS))
    with ThreadedStandIn(TwilioStandIn()) as twilio_url, ThreadedStandIn(pushover) as push_url:
        hub = _hub(tmp_path, db, mosquitto, twilio_url, push_url)
        hub_processes.append(hub)
        hub.start()
        async with device_client(mosquitto, "sender-pendant-1") as device:
            body = json.dumps({"type": "pendant.pressed", "seq": 1})
            await device.publish(event_topic("pendant-1"), body, qos=1)

        async def step_refused() -> bool:
            return bool(pushover.requests)

        await eventually(step_refused)
        step = await _bens_step(db)
        assert step is not None and step.state == "pending", "written while the card was well"
        turn_read_only(ext4_disk)
        pushover.faults.clear()  # the provider takes the next try, made while the card fails

        async def ben_told() -> bool:
            return bool(pushover.to(BEN_USER))

        await eventually(ben_told, timeout_s=30)

        async def broker_keeps_the_send() -> bool:
            ledger = await sent_ledger(mosquitto)
            notices = [] if ledger is None else [n for i in ledger.incidents for n in i.sent]
            return any((n.key, n.entry_id) == (step.key, step.id) for n in notices)

        await eventually(broker_keeps_the_send)
        hub.kill()
        repair(ext4_disk, tmp_path / "card.img")
        again = await _bens_step(db)
        assert again is not None and again.state == "pending", "its send is on the broker alone"
        hub.start()

        async def written_as_sent() -> bool:
            entry = await _bens_step(db)
            return entry is not None and entry.state == "sent"

        await eventually(written_as_sent)
        assert hub.terminate() == 0
        assert await sent_ledger(mosquitto) is None, "all on the card now: the broker keeps none"
    assert len(pushover.to(BEN_USER)) == 1, "Ben got the step once, not again after the crash"
