"""Each registered device gets a hub command in the form it understands, or nothing."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.pipeline.intake import Intake
from hub.pipeline.rejections import RejectLog
from wire.devices import DeviceRecord
from wire.schema import CommandPayload, InboundMessage

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EXPOSES = Path(__file__).parents[1] / "fixtures" / "exposes"


def record(device_id: str, source: str, friendly_name: str | None = None) -> DeviceRecord:
    return DeviceRecord(
        id=device_id, name=device_id.replace("-", " "), role="pendant", room="Hall",
        source=source, friendly_name=friendly_name, model=None, origin="config", online=None,
        battery=None, last_seen=None, created_at=START,
    )  # fmt: skip


def listed(*entries: tuple[str, str]) -> InboundMessage:
    devices = [
        {"friendly_name": name, "ieee_address": f"0x{i:016x}",
         "definition": json.loads((EXPOSES / f"{model}.json").read_text())}
        for i, (name, model) in enumerate(entries)
    ]  # fmt: skip
    return InboundMessage("zigbee2mqtt/bridge/devices", json.dumps(devices).encode())


@pytest.fixture
def intake() -> Intake:
    devices = [
        record("pendant-1", "native"),
        record("cord-1", "gpio"),
        record("siren-1", "zigbee2mqtt", "hall/siren"),
        record("sos-1", "zigbee2mqtt", "hall/sos"),
    ]
    return Intake(devices, RejectLog(), [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt")])


def test_native_gpio_and_unknown_devices(intake: Intake) -> None:
    reassure = CommandPayload(command="reassure", incident_id="help_call-1")
    assert intake.command("pendant-1", reassure) == (
        "telecare/v1/pendant-1/command",
        b'{"command":"reassure","incident_id":"help_call-1"}',
    )
    chime = CommandPayload(command="chime")
    assert intake.command("pendant-1", chime) == (
        "telecare/v1/pendant-1/command",
        b'{"command":"chime"}',
    )
    assert intake.command("cord-1", reassure) is None  # the hub's own light shows it
    assert intake.command("stranger", reassure) is None
    assert intake.rejects.counts["command_unsupported"] == 0


def test_zigbee_devices_get_their_set_or_are_counted_and_told_once(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    chime = CommandPayload(command="chime")
    assert intake.command("siren-1", chime) is None  # not listed by Zigbee2MQTT yet
    with caplog.at_level(logging.WARNING, logger="telecare.intake"):
        for _ in range(2):  # bridge/devices is retained: replayed at every reconnect
            intake.decode(listed(("hall/siren", "SIRZB-110"), ("hall/sos", "TS0215A_sos")),
                          received_at=START)  # fmt: skip
    told = [r.getMessage() for r in caplog.records if "exposes nothing" in r.getMessage()]
    assert told == ["sos 1 (sos-1, model TS0215A_sos) exposes nothing the hub can command:"
                    " no reassurance light or chime on it"]  # fmt: skip
    assert intake.take_sightings().commands == {
        "siren-1": ("reassure", "chime"),
        "sos-1": (),
    }
    topic, body = intake.command("siren-1", chime) or ("", b"")
    assert topic == "zigbee2mqtt/hall/siren/set"
    assert json.loads(body) == {
        "warning": {"mode": "burglar", "level": "low", "strobe": False, "duration": 2}
    }
    assert intake.command("sos-1", chime) is None
    assert intake.command("sos-1", CommandPayload(command="reassure")) is None
    assert intake.rejects.counts["command_unsupported"] == 3


def test_a_device_that_cannot_be_asked_comes_with_the_reason(intake: Intake) -> None:
    identify = CommandPayload(command="identify")
    assert intake.routed("siren-1", identify) == "siren 1 is not listed by Zigbee2MQTT yet"
    intake.decode(listed(("hall/sos", "TS0215A_sos")), received_at=START)
    assert intake.routed("sos-1", identify) == "sos 1 exposes nothing to identify with"
    assert (
        intake.routed("cord-1", identify) == "cord 1 is wired to the hub: there is nothing to ask"
    )
    assert intake.routed("stranger", identify) == "no such device"
    assert intake.routed("pendant-1", identify) == (
        "telecare/v1/pendant-1/command",
        b'{"command":"identify"}',
    )
