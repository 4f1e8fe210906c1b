"""NTP steps the running hub's wall clock by an hour: escalation keeps its pace, digests their time.

The step is injected through the test-only clock offset file (`hub.service.clock` says why it is not
libfaketime): the hub's wall clock jumps while its monotonic clock runs on, as under NTP.
"""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.mqtt.broker import LocalBroker
from hub.service.clock import OFFSET_FILE_ENV
from hub.store.store import Store
from tests.support.hubs import HubProcess, config_data, device_client, eventually, write_toml
from tests.support.reliability import record
from tests.support.standins import ThreadedStandIn, TwilioStandIn, twilio_toml
from wire.schema import event_topic

ALICE = "+447700900123"
BOB = "+447700900456"
SECOND_STEP_S = 12
HOME = ZoneInfo("Europe/London")


def _hub(broker: LocalBroker, workdir: Path, twilio_url: str, digest_at: str) -> HubProcess:
    """Alice then Bob for an emergency; Alice reads information in a digest at `digest_at`."""
    contacts = [
        {"name": "Alice", "phone": ALICE, "digest_at": [digest_at]},
        {"name": "Bob", "phone": BOB},
    ]
    path = write_toml(workdir / "hub.toml", config_data(broker, workdir, contacts=contacts))
    path.write_text(
        path.read_text()
        + twilio_toml(twilio_url)
        + f"""
[escalation.emergency]
steps = [
  {{ contact = "Alice", channel = "sms", after_s = 0 }},
  {{ contact = "Bob", channel = "sms", after_s = {SECOND_STEP_S} }},
]

[escalation.info]
steps = [{{ contact = "Alice", channel = "sms", after_s = 0 }}]
"""
    )
    return HubProcess(path, workdir / "hub.log")


async def _publish(broker: LocalBroker, device: str, body: dict[str, object]) -> None:
    async with device_client(broker, f"sender-{device}") as client:
        await client.publish(event_topic(device), json.dumps(body), qos=1)


async def _time_left_s(db: Path) -> float:
    """How long after Alice's step the stored alarm's next step is due, on the hub's clock."""
    async with Store.open(db, readonly=True) as store:
        (incident,) = [i for i in await store.incidents() if i.cause == "help_call"]
        (first,) = await store.notifications(incident_id=incident.id)
    assert incident.due_at is not None
    return (incident.due_at - first.created_at).total_seconds()


async def _device_events(db: Path) -> int:
    """Events stored from the devices (not the hub's own)."""
    async with Store.open(db, readonly=True) as store:
        return sum(e.event.device_id in {"leak-1", "pendant-1"} for e in await store.events())


async def _steps_recorded(db: Path) -> list[float]:
    async with Store.open(db, readonly=True) as store:
        return [
            e.event.value or 0.0
            for e in await store.events()
            if e.event.type == "hub.clock_stepped"
        ]


@pytest.mark.slow
@pytest.mark.parametrize("step_h", [1, -1])
async def test_a_clock_step_neither_hurries_nor_delays_escalation_and_digests_keep_wall_time(
    mosquitto: LocalBroker,
    tmp_path: Path,
    hub_processes: list[HubProcess],
    monkeypatch: pytest.MonkeyPatch,
    step_h: int,
) -> None:
    """A pendant alarm's second step is due 12 s after the press; the clock steps in between.

    Alice's digest is set for half an hour from now (home time): a step forward by an hour
    passes it, so it goes at once; a step back leaves it ahead.
    """
    offset = tmp_path / "clock-offset"
    offset.write_text("0\n")
    monkeypatch.setenv(OFFSET_FILE_ENV, str(offset))
    digest_at = (datetime.now(UTC) + timedelta(minutes=30)).astimezone(HOME).strftime("%H:%M")
    twilio = TwilioStandIn()
    db = tmp_path / "hub.db"
    with ThreadedStandIn(twilio) as url:
        hub = _hub(mosquitto, tmp_path, url, digest_at)
        hub_processes.append(hub)
        hub.start()
        await _publish(mosquitto, "leak-1", {"type": "device.battery_low", "battery": 5})
        pressed, pressed_at = time.monotonic(), datetime.now(UTC)
        await _publish(mosquitto, "pendant-1", {"type": "pendant.pressed", "seq": 1})

        async def alice_alerted() -> bool:
            return any("pressed the pendant" in m["body"] for m in twilio.outbound(to=ALICE))

        await eventually(alice_alerted)
        offset.write_text(f"{step_h * 3600}\n")

        async def step_recorded() -> bool:
            return bool(await _steps_recorded(db))

        await eventually(step_recorded)
        assert not twilio.outbound(to=BOB), "the second step is not due yet"
        (recorded_s,) = await _steps_recorded(db)
        assert abs(recorded_s - step_h * 3600) < 5
        assert await _time_left_s(db) == pytest.approx(recorded_s + SECOND_STEP_S, abs=1e-3)

        async def bob_alerted() -> bool:
            return len(twilio.outbound(to=BOB)) == 1

        await eventually(bob_alerted, timeout_s=SECOND_STEP_S + 30)  # not an hour late
        waited_s = time.monotonic() - pressed
        digests = [m for m in twilio.outbound(to=ALICE) if "battery" in m["body"]]
        if step_h > 0:

            async def digest_sent() -> bool:
                return any("battery" in m["body"] for m in twilio.outbound(to=ALICE))

            await eventually(digest_sent)
        else:
            assert digests == [], "the digest is still half an hour ahead"
        assert hub.terminate() == 0
    assert waited_s >= SECOND_STEP_S, "not an hour early, nor any earlier than its 12 s"
    assert len(twilio.outbound(to=BOB)) == 1
    (step,) = twilio.outbound(to=BOB)
    stored = await _device_events(db)
    record(
        "faults",
        f"wall clock stepped by {step_h:+d} h",
        sent=2,
        stored=stored,
        lost=2 - stored,
        duplicates_to_carer=len(twilio.outbound(to=BOB)) - 1,
        notify_s=round((step["created"] - pressed_at).total_seconds() - SECOND_STEP_S, 3),
    )
