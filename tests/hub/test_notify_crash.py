"""Kill -9 during a send, restart: the carer gets exactly one SMS per step (at the stand-in)."""

import json
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import HubProcess, config_data, device_client, eventually, write_toml
from tests.support.reliability import record
from tests.support.standins import (
    Fault,
    ThreadedStandIn,
    TwilioStandIn,
    twilio_toml,
)
from wire.schema import event_topic


def hub_with_twilio(broker: LocalBroker, workdir: Path, twilio_url: str) -> HubProcess:
    """A hub process whose emergencies go to Alice by SMS through the stand-in."""
    path = write_toml(workdir / "hub.toml", config_data(broker, workdir))
    path.write_text(
        path.read_text()
        + twilio_toml(twilio_url)
        + """
[escalation.emergency]
steps = [{ contact = "Alice", channel = "sms", after_s = 0 }]
"""
    )
    return HubProcess(path, workdir / "hub.log")


async def press_pendant(broker: LocalBroker) -> None:
    async with device_client(broker, "pendant") as device:
        body = json.dumps({"type": "pendant.pressed", "seq": 1})
        await device.publish(event_topic("pendant-1"), body, qos=1)


async def sms_states(db: Path) -> list[str]:
    async with Store.open(db, readonly=True) as store:
        return [n.state for n in await store.notifications() if n.channel == "sms"]


@pytest.mark.slow
@pytest.mark.parametrize("provider_took_it", [True, False])
async def test_killed_mid_send_the_step_reaches_the_carer_once(
    mosquitto: LocalBroker,
    tmp_path: Path,
    hub_processes: list[HubProcess],
    provider_took_it: bool,
) -> None:
    twilio = TwilioStandIn()
    if provider_took_it:
        twilio.hold_after_create = True  # stored at the provider; the answer never comes
    else:
        twilio.faults.append(Fault(hang=True))  # the request arrives; nothing is stored
    db = tmp_path / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub = hub_with_twilio(mosquitto, tmp_path, url)
        hub_processes.append(hub)
        hub.start()
        await press_pendant(mosquitto)

        async def request_arrived() -> bool:
            return bool(twilio.requests)

        await eventually(request_arrived)
        hub.kill()
        twilio.hold_after_create = False
        assert await sms_states(db) == ["pending"]

        hub.start()

        async def settled() -> bool:
            return await sms_states(db) == ["sent"]

        await eventually(settled)
        assert hub.terminate() == 0
        assert len(twilio.outbound(to="+447700900123")) == 1
    when = "after the provider took the SMS" if provider_took_it else "before the provider took it"
    record(
        "faults",
        f"SIGKILL of the hub mid-send, {when}",
        steps_due=1,
        sms_to_carer=len(twilio.outbound(to="+447700900123")),
        duplicates_to_carer=len(twilio.outbound(to="+447700900123")) - 1,
        lost=0 if twilio.outbound(to="+447700900123") else 1,
    )
