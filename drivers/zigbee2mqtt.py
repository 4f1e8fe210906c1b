"""Driver for Zigbee2MQTT: `<base>/...` topics in, canonical events of registered devices out.

Friendly names may contain `/`, so a topic is matched against the registered friendly names (and
the names in the retained `bridge/devices`) rather than split. Availability and bridge state are
accepted both as JSON (`{"state": "online"}`) and as the plain text of older releases.
"""

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.decoding import (
    Capabilities,
    Decoded,
    Health,
    Rejected,
    StatusReport,
    Unregistered,
)
from drivers.zigbee_commands import (
    Command,
    Exposure,
    set_payload,
    settable_exposures,
    supported_commands,
)
from drivers.zigbee_payloads import (
    VERIFIED_MODELS,
    DeviceMemory,
    mapped_properties,
    translate,
)
from wire.devices import DeviceRecord
from wire.event import DeviceEvent
from wire.schema import MAX_PAYLOAD_BYTES, InboundMessage, load_json

log = logging.getLogger("telecare.zigbee2mqtt")
BRIDGE_DEVICES_MAX_BYTES = 4 * 1024 * 1024  # a large network's device list, exposes and all
# Subtopics Zigbee2MQTT or its clients use under a device's topic; none of them is device state.
QUIET_SUFFIXES = ("/set", "/get", "/action")


@dataclass(frozen=True, slots=True)
class BridgeDevice:
    """One entry of the retained `bridge/devices` list, as far as the hub needs it."""

    friendly_name: str
    ieee_address: str
    model: str | None
    exposes: frozenset[str] | None
    battery_powered: bool
    coordinator: bool = False
    settable: Mapping[str, Exposure] = field(default_factory=dict)


@dataclass(slots=True)
class _Registered:
    device_id: str
    role: str
    model: str | None
    memory: DeviceMemory


def parse_bridge_devices(payload: bytes) -> list[BridgeDevice] | None:
    """Read the retained `bridge/devices` array; None if it is not one."""
    try:
        data: Any = load_json(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, list):
        return None
    found: list[BridgeDevice] = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("friendly_name"), str):
            continue
        definition = entry.get("definition")
        definition = definition if isinstance(definition, dict) else {}
        model = definition.get("model")
        exposes = definition.get("exposes")
        found.append(
            BridgeDevice(
                friendly_name=entry["friendly_name"],
                ieee_address=str(entry.get("ieee_address", "")),
                model=model if isinstance(model, str) else None,
                exposes=exposed_properties(exposes) if isinstance(exposes, list) else None,
                battery_powered=entry.get("power_source") == "Battery",
                coordinator=entry.get("type") == "Coordinator",
                settable=settable_exposures(exposes) if isinstance(exposes, list) else {},
            )
        )
    return found


def exposed_properties(exposes: list[Any]) -> frozenset[str]:
    """Every `property` named in a definition's exposes, including composite features."""
    names: set[str] = set()
    stack = list(exposes)
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("property"), str):
            names.add(item["property"])
        features = item.get("features")
        if isinstance(features, list):
            stack.extend(features)
    return frozenset(names)


def parse_online(payload: bytes) -> bool | None:
    """`{"state": "online"}` or the legacy bare `online` / `offline`; None for anything else."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text in {"online", "offline"}:
        return text == "online"
    try:
        data: Any = load_json(text)
    except ValueError:
        return None
    state = data.get("state") if isinstance(data, dict) else None
    return state == "online" if state in {"online", "offline"} else None


class Zigbee2MqttDriver:
    """Decodes everything under the Zigbee2MQTT base topic.

    Args:
        base_topic: Zigbee2MQTT's `mqtt.base_topic` (default `zigbee2mqtt`).
        devices: The registered devices; only those with source `zigbee2mqtt` are used.
    """

    def __init__(self, base_topic: str, devices: Iterable[DeviceRecord] = ()) -> None:
        self.base = base_topic.rstrip("/")
        self._by_name: dict[str, _Registered] = {}
        self._bridge: dict[str, BridgeDevice] = {}
        self._warned_models: set[str] = set()
        self.bridge_online: bool | None = None
        self.register(devices)

    @property
    def subscriptions(self) -> Sequence[str]:
        """Everything under the base topic."""
        return (f"{self.base}/#",)

    def owns(self, topic: str) -> bool:
        """Topics under the base topic."""
        return topic.startswith(f"{self.base}/")

    def register(self, devices: Iterable[DeviceRecord]) -> None:
        """Match registered devices by friendly name, keeping what was known of their states."""
        previous = self._by_name
        self._by_name = {}
        for device in devices:
            if device.source != "zigbee2mqtt" or not device.friendly_name:
                continue
            kept = previous.get(device.friendly_name)
            memory = kept.memory if kept and kept.device_id == device.id else DeviceMemory()
            self._by_name[device.friendly_name] = _Registered(
                device.id, device.role, device.model, memory
            )

    def command(self, friendly_name: str, command: Command) -> tuple[str, bytes] | None:
        """Topic and `/set` payload that carry out `command`, if the device's model can.

        The friendly name is used whole (it may contain `/`); see `drivers.zigbee_commands`.
        """
        listed = self._bridge.get(friendly_name)
        body = set_payload(command, listed.settable) if listed is not None else None
        if body is None:
            return None
        return f"{self.base}/{friendly_name}/set", json.dumps(body).encode()

    @property
    def bridge_devices(self) -> Mapping[str, BridgeDevice]:
        """The devices Zigbee2MQTT last listed, by friendly name."""
        return self._bridge

    def decode(self, message: InboundMessage, *, received_at: datetime) -> list[Decoded]:
        """Everything one message under the base topic carries."""
        rest = message.topic[len(self.base) + 1 :]
        if rest.startswith("bridge/"):
            return self._decode_bridge(rest, message.payload)
        limit = MAX_PAYLOAD_BYTES
        if len(message.payload) > limit:
            return [Rejected("oversized", f"{len(message.payload)} bytes > {limit}")]
        return self._decode_device(rest, message.payload, received_at)

    def _decode_device(self, rest: str, payload: bytes, received_at: datetime) -> list[Decoded]:
        if not payload:
            return []  # a retained message being cleared
        if rest in self._by_name:
            return self._decode_state(rest, payload, received_at)
        if rest.endswith("/availability") and rest[: -len("/availability")] in self._by_name:
            return self._decode_availability(rest[: -len("/availability")], payload)
        if rest.endswith(QUIET_SUFFIXES) or "/set/" in rest or "/get/" in rest:
            return []  # commands to Zigbee2MQTT (ours too) and the legacy action topic
        name = rest.removesuffix("/availability")
        known = self._bridge.get(name)
        if known is None:
            detail = f"{name[:64]!r} is neither registered nor listed by Zigbee2MQTT"
            return [Rejected("unregistered_device", detail)]
        return [Unregistered("zigbee2mqtt", name, known.model)]

    def _decode_bridge(self, rest: str, payload: bytes) -> list[Decoded]:
        if rest == "bridge/devices":
            return self._decode_device_list(payload)
        if rest == "bridge/event" and len(payload) <= MAX_PAYLOAD_BYTES:
            return self._decode_bridge_event(payload)
        if rest == "bridge/state":
            online = parse_online(payload[:256])
            if online is not None and online != self.bridge_online:
                if online or self.bridge_online is not None:
                    log.log(
                        logging.INFO if online else logging.WARNING,
                        "Zigbee2MQTT bridge is %s",
                        "online" if online else "offline: Zigbee devices cannot be heard",
                    )
                self.bridge_online = online
        return []  # events, info, responses: the pairing command follows those itself

    def _decode_device_list(self, payload: bytes) -> list[Decoded]:
        if not payload:
            return []  # a retained message being cleared
        if len(payload) > BRIDGE_DEVICES_MAX_BYTES:
            return [Rejected("oversized", f"{len(payload)} bytes of bridge/devices")]
        listed = parse_bridge_devices(payload)
        if listed is None:
            return [Rejected("invalid_payload", "bridge/devices is not a JSON array")]
        self._bridge = {d.friendly_name: d for d in listed}
        decoded: list[Decoded] = [
            Capabilities(
                self._by_name[d.friendly_name].device_id, supported_commands(d.settable), d.model
            )
            for d in listed
            if d.friendly_name in self._by_name
        ]
        decoded.extend(
            Unregistered("zigbee2mqtt", d.friendly_name, d.model, spoke=False)
            for d in listed
            if d.friendly_name not in self._by_name and not d.coordinator
        )
        return decoded

    def _decode_bridge_event(self, payload: bytes) -> list[Decoded]:
        """A registered device that left the Zigbee network will not be heard again: offline."""
        try:
            event: Any = load_json(payload)
        except (UnicodeDecodeError, ValueError):
            return [Rejected("malformed_json", "bridge/event is not JSON")]
        if not isinstance(event, dict) or event.get("type") != "device_leave":
            return []  # joins and interviews: the pairing command follows those
        data = event.get("data")
        name = data.get("friendly_name") if isinstance(data, dict) else None
        if not isinstance(name, str) or name not in self._by_name:
            return []
        device_id = self._by_name[name].device_id
        log.warning("%s (%s) left the Zigbee network: pair it again", name, device_id)
        return [StatusReport(device_id, online=False)]

    def _decode_availability(self, name: str, payload: bytes) -> list[Decoded]:
        online = parse_online(payload)
        if online is None:
            return [Rejected("invalid_payload", "availability is not online/offline")]
        return [StatusReport(self._by_name[name].device_id, online)]

    def _decode_state(self, name: str, payload: bytes, received_at: datetime) -> list[Decoded]:
        device = self._by_name[name]
        try:
            data: Any = load_json(payload)
        except (UnicodeDecodeError, ValueError) as err:
            return [Rejected("malformed_json", str(err)[:120])]
        if not isinstance(data, dict):
            return [
                Rejected("invalid_payload", f"expected a JSON object, got {type(data).__name__}")
            ]
        result = translate(
            data,
            role=device.role,
            properties=self._properties(name, device),
            memory=device.memory,
            received_at=received_at,
        )
        decoded: list[Decoded] = [Health(device.device_id, result.battery, result.linkquality)]
        decoded.extend(
            Rejected("role_mismatch", f"{device.role} {device.device_id} sent {prop}")
            for prop in result.mismatches
        )
        decoded.extend(
            DeviceEvent(
                device_id=device.device_id,
                type=event,
                received_at=received_at,
                source="zigbee2mqtt",
                battery=result.battery,
                value=result.reading if event == "temperature.reading" else None,
            )
            for event in result.events
        )
        return decoded

    def _properties(self, name: str, device: _Registered) -> frozenset[str]:
        listed = self._bridge.get(name)
        model = (listed.model if listed else None) or device.model
        exposes = listed.exposes if listed else None
        if model not in VERIFIED_MODELS and (model or name) not in self._warned_models:
            self._warned_models.add(model or name)
            log.warning(
                "%s (model %s) is not a verified model; mapping it by %s",
                name,
                model or "unknown",
                "the properties it exposes" if exposes is not None else "property names",
            )
        return mapped_properties(model, exposes)
