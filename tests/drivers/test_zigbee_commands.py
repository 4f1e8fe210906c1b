"""Hub commands as Zigbee2MQTT `/set` payloads, chosen from real models' exposes."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.decoding import Capabilities
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from drivers.zigbee_commands import COMMANDS, set_payload, settable_exposures, supported_commands
from tests.drivers.test_zigbee2mqtt import START, record
from wire.schema import InboundMessage

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exposes"
MODELS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def fixture(model: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{model}.json").read_text())
    return data


@pytest.mark.parametrize("model", MODELS)
def test_each_model_gets_the_payload_its_converter_accepts(model: str) -> None:
    data = fixture(model)
    assert data["model"] == model and data["sources"]
    exposures = settable_exposures(data["exposes"])
    got = {command: set_payload(command, exposures) for command in COMMANDS}
    assert got == data["commands"]
    assert supported_commands(exposures) == tuple(c for c in COMMANDS if data["commands"][c])


def listing(name: str, model: str) -> InboundMessage:
    data = fixture(model)
    entry = {"friendly_name": name, "ieee_address": "0x0017880104e45517",
             "definition": {"model": model, "exposes": data["exposes"]}}  # fmt: skip
    return InboundMessage("zigbee2mqtt/bridge/devices", json.dumps([entry]).encode())


def test_the_set_topic_keeps_a_friendly_name_with_slashes_whole() -> None:
    driver = Zigbee2MqttDriver("zigbee2mqtt", [record("lamp-1", "mum/hall/lamp", "pendant")])
    assert driver.command("mum/hall/lamp", "reassure") is None  # not listed yet
    decoded = driver.decode(listing("mum/hall/lamp", "LED1545G12"), received_at=START)
    assert decoded == [Capabilities("lamp-1", ("reassure", "identify"), "LED1545G12")]
    assert driver.command("mum/hall/lamp", "reassure") == (
        "zigbee2mqtt/mum/hall/lamp/set",
        b'{"effect": "okay"}',
    )


def test_a_device_that_exposes_nothing_settable_is_listed_with_no_commands() -> None:
    driver = Zigbee2MqttDriver("zigbee2mqtt", [record("sos-1", "hall/sos", "pendant")])
    decoded = driver.decode(listing("hall/sos", "TS0215A_sos"), received_at=START)
    assert decoded == [Capabilities("sos-1", (), "TS0215A_sos")]
    assert all(driver.command("hall/sos", c) is None for c in COMMANDS)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)
EXPOSE = st.fixed_dictionaries(
    {"property": st.sampled_from(["identify", "effect", "warning", "alarm", "volume", "state"]),
     "access": st.integers(0, 7)},
    optional={"type": st.sampled_from(["enum", "binary", "composite", "light"]),
              "values": st.lists(st.text(max_size=8) | JSON, max_size=4),
              "features": st.lists(JSON, max_size=3), "value_on": JSON},
)  # fmt: skip


@given(st.lists(EXPOSE | JSON, max_size=6))
def test_any_exposes_give_a_payload_on_settable_properties_or_none(exposes: list[Any]) -> None:
    exposures = settable_exposures(exposes)
    for command in COMMANDS:
        payload = set_payload(command, exposures)
        assert payload is None or (payload and set(payload) <= set(exposures))
        if payload is not None:
            json.dumps(payload)  # always serialisable
