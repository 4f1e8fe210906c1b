"""Pairing a device from the installer's CLI, over the broker the hub uses.

For Zigbee2MQTT: open a permit-join window (`{"time": N, "transaction": ...}`, the 2.x form;
`{"value": true, "time": N}` for a 1.x bridge that refuses it),
follow `bridge/event` through `device_joined` to `device_interview` = successful, and close the
window (`time: 0`) however it ends. For native devices: wait for `telecare/v1/pairing/announce`.
Then register the device, tell the running hub to re-read its registry
(`telecare/v1/hub/control/reload`) and wait for the installer to press the button or trigger the
sensor, proving it end to end.
"""

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from drivers.decoding import Driver, Health
from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.config.file import HubConfig
from hub.mqtt.session import MqttSession
from hub.store.records import UnpairedDevice
from hub.store.store import NewDevice
from wire.control import RELOAD_TOPIC, ReloadRequest
from wire.devices import DeviceRecord
from wire.event import DeviceEvent
from wire.schema import (
    PAIRING_TOPIC,
    AnnouncePayload,
    CommandPayload,
    InboundMessage,
    command_topic,
    event_topic,
    is_device_id,
    load_json,
)

CONNECT_TIMEOUT_S = 10.0
RESPONSE_TIMEOUT_S = 10.0
Say = Callable[[str], None]


class PairingError(Exception):
    """Pairing could not be completed; the message says what the installer can do."""


@dataclass(frozen=True, slots=True)
class PairingRequest:
    """What the installer asked for on the command line."""

    role: str
    name: str
    room: str | None
    timeout_s: int
    device_id: str | None = None
    adopt: str | None = None


class BrokerLink:
    """A short-lived, non-persistent MQTT connection for a CLI command."""

    def __init__(self, session: MqttSession, inbox: asyncio.Queue[InboundMessage]) -> None:
        self.session = session
        self._inbox = inbox

    async def next(self, deadline: float) -> InboundMessage | None:
        """The next message, or None once the monotonic `deadline` has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            async with asyncio.timeout(remaining):
                return await self._inbox.get()
        except TimeoutError:
            return None

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Publish JSON with QoS 1 and wait for the broker to have it."""
        body = json.dumps(payload).encode()
        return await self.session.publish_and_wait(topic, body, retain=False)

    async def tell_hub_to_reload(self, by: str) -> bool:
        """Ask a running hub to re-read its registry; False if the broker did not take it."""
        return await self.publish(RELOAD_TOPIC, ReloadRequest(by=by).model_dump())


@asynccontextmanager
async def broker_link(config: HubConfig, subscriptions: Sequence[str]) -> AsyncIterator[BrokerLink]:
    """Connect to the hub's broker as a separate, clean-session client.

    Raises:
        PairingError: the broker could not be reached in time.
    """
    inbox: asyncio.Queue[InboundMessage] = asyncio.Queue()
    settings = config.mqtt.model_copy(update={"client_id": f"telecare-cli-{os.getpid()}"})
    session = MqttSession(
        settings,
        subscriptions=subscriptions,
        deliver=inbox.put_nowait,
        persistent=False,
        auto_ack=True,
    )
    async with session:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await session.wait_connected()
        except TimeoutError as err:
            where = f"{settings.host}:{settings.port}"
            raise PairingError(f"cannot reach the MQTT broker at {where}") from err
        yield BrokerLink(session, inbox)


async def pair_zigbee(
    link: BrokerLink, base: str, request: PairingRequest, say: Say, *, known: set[str]
) -> NewDevice:
    """Open Zigbee2MQTT's pairing window until one device has joined and been interviewed.

    Args:
        link: A connection subscribed to `<base>/#`.
        base: Zigbee2MQTT's base topic.
        request: Role, name and room to give the device, and how long to wait.
        say: Prints a line for the installer.
        known: Friendly names already registered.
    """
    bridge = _Bridge(base)
    await _permit_join(link, bridge, request.timeout_s)
    try:
        say(
            f"Pairing window open for {request.timeout_s} s: put the {request.role} in pairing"
            " mode (usually: hold its button until the light flashes)."
        )
        data = await _await_interview(link, base, request.timeout_s, say)
    finally:
        with contextlib.suppress(PairingError):
            await _permit_join(link, bridge, 0)
    name = str(data["friendly_name"])
    if name in known:
        raise PairingError(f"{name} is already registered; see `telecare devices`")
    definition = data.get("definition")
    model = definition.get("model") if isinstance(definition, dict) else None
    ieee = str(data.get("ieee_address", name))
    return NewDevice(
        id=request.device_id or f"{request.role.replace('_', '-')}-{ieee[-6:].lower()}",
        name=request.name,
        role=request.role,
        room=request.room,
        source="zigbee2mqtt",
        friendly_name=name,
        model=model if isinstance(model, str) else None,
        origin="paired",
    )


@dataclass(slots=True)
class _Bridge:
    """What the pairing command learns of the Zigbee2MQTT bridge as it goes."""

    base: str
    version: str | None = None
    legacy: bool = False  # 1.x wants {"value": bool, "time": N}; 2.x refuses that form


async def _permit_join(link: BrokerLink, bridge: _Bridge, time_s: int) -> None:
    response = await _request_permit(link, bridge, time_s)
    if response.get("status") != "ok" and not bridge.legacy and _is_1x(bridge.version):
        bridge.legacy = True
        response = await _request_permit(link, bridge, time_s)
    if response.get("status") != "ok":
        raise PairingError(f"Zigbee2MQTT refused permit_join: {response.get('error')}")


async def _request_permit(link: BrokerLink, bridge: _Bridge, time_s: int) -> dict[str, Any]:
    transaction = uuid.uuid4().hex
    request: dict[str, Any] = {"time": time_s, "transaction": transaction}
    if bridge.legacy:
        request["value"] = time_s > 0
    if not await link.publish(f"{bridge.base}/bridge/request/permit_join", request):
        raise PairingError("the broker did not accept the permit_join request")
    deadline = time.monotonic() + RESPONSE_TIMEOUT_S
    while (message := await link.next(deadline)) is not None:
        if message.topic == f"{bridge.base}/bridge/info":
            version = _json_object(message.payload).get("version")
            bridge.version = version if isinstance(version, str) else None
        if message.topic != f"{bridge.base}/bridge/response/permit_join":
            continue
        response = _json_object(message.payload)
        if response.get("transaction") == transaction:
            return response
    where = f"{bridge.base}/bridge/response"
    raise PairingError(f"Zigbee2MQTT did not answer on {where}: is it running?")


def _is_1x(version: str | None) -> bool:
    return version is not None and version.startswith("1.")


async def _await_interview(link: BrokerLink, base: str, timeout_s: int, say: Say) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (message := await link.next(deadline)) is not None:
        if message.topic != f"{base}/bridge/event":
            continue
        event = _json_object(message.payload)
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("friendly_name"), str):
            continue
        if event.get("type") == "device_joined":
            say(f"{data['friendly_name']} joined; Zigbee2MQTT is interviewing it...")
        elif event.get("type") == "device_interview" and data.get("status") == "failed":
            say("The interview failed: keep the device awake (press its button) and try again.")
        elif event.get("type") == "device_interview" and data.get("status") == "successful":
            return data
    raise PairingError(f"no device joined within {timeout_s} s; the pairing window is closed")


def adopt(request: PairingRequest, source: str, heard: Sequence[UnpairedDevice]) -> NewDevice:
    """Register a device the hub has heard but not paired (`telecare devices --unpaired`).

    Raises:
        PairingError: the hub has not heard it, or no usable id can be made from its address.
    """
    found = [u for u in heard if u.source == source and u.address == request.adopt]
    if not found:
        heard_where = f"{request.adopt!r} on {source}"
        raise PairingError(
            f"the hub has not heard {heard_where}; see `telecare devices --unpaired`"
        )
    stranger = found[0]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", stranger.address).strip("-").lower()[-24:]
    default_id = stranger.address if source == "native" else f"{request.role}-{slug}"
    device_id = request.device_id or default_id.replace("_", "-")
    if not is_device_id(device_id):
        raise PairingError(f"{device_id!r} cannot be a device id; give one with --id")
    return NewDevice(
        id=device_id,
        name=request.name,
        role=request.role,
        room=request.room,
        source=source,
        friendly_name=stranger.address if source == "zigbee2mqtt" else None,
        model=stranger.model,
        origin="paired",
    )


async def pair_native(
    link: BrokerLink, request: PairingRequest, say: Say, *, known: set[str]
) -> NewDevice:
    """Wait for a native device's announcement on `telecare/v1/pairing/announce`."""
    say(f"Waiting {request.timeout_s} s for a device to announce itself: put it in pairing mode.")
    deadline = time.monotonic() + request.timeout_s
    while (message := await link.next(deadline)) is not None:
        if message.topic != PAIRING_TOPIC:
            continue
        try:
            announce = AnnouncePayload.model_validate_json(message.payload)
        except ValidationError:
            continue
        if announce.device_id in known or not is_device_id(announce.device_id):
            continue
        return NewDevice(
            id=request.device_id or announce.device_id,
            name=request.name,
            role=request.role,
            room=request.room,
            source="native",
            friendly_name=None,
            model=announce.model,
            origin="paired",
        )
    raise PairingError(f"no device announced itself within {request.timeout_s} s")


async def prove(link: BrokerLink, device: NewDevice, base: str, timeout_s: int) -> str:
    """Wait for the first event from the new device; describe it for the installer.

    Raises:
        PairingError: nothing arrived in time.
    """
    driver: Driver
    record = _as_record(device)
    if device.source == "zigbee2mqtt":
        driver = Zigbee2MqttDriver(base, [record])
    else:
        driver = NativeDriver([record])
    deadline = time.monotonic() + timeout_s
    signal: int | None = None
    while (message := await link.next(deadline)) is not None:
        if not driver.owns(message.topic) or message.retain:
            continue
        for item in driver.decode(message, received_at=datetime.now(UTC)):
            if isinstance(item, Health) and item.linkquality is not None:
                signal = item.linkquality
            if isinstance(item, DeviceEvent):
                heard = f"received {item.type} from {device.name}"
                return heard + (f", signal {signal}/255" if signal is not None else "")
    raise PairingError(
        f"{device.name} is registered, but nothing was heard from it in {timeout_s} s:"
        " check its battery and distance, then trigger it again"
    )


async def identify(link: BrokerLink, device: DeviceRecord, base: str) -> str:
    """Ask a device to show itself (blink or beep) so the installer can find it.

    Raises:
        PairingError: the device cannot be asked.
    """
    if device.source == "native":
        body = CommandPayload(command="identify").model_dump(exclude_none=True)
        await link.publish(command_topic(device.id), body)
        return f"asked {device.name} to identify itself"
    if device.source != "zigbee2mqtt" or device.friendly_name is None:
        raise PairingError(f"{device.name} is wired to the hub: there is nothing to ask")
    driver = Zigbee2MqttDriver(base, [device])
    deadline = time.monotonic() + RESPONSE_TIMEOUT_S
    while (message := await link.next(deadline)) is not None:
        driver.decode(message, received_at=datetime.now(UTC))
        if device.friendly_name in driver.bridge_devices:
            break
    command = driver.command(device.friendly_name, "identify")
    if command is None:
        raise PairingError(
            f"Zigbee2MQTT lists no identify feature (nor a light to blink) for {device.name}"
        )
    if not await link.session.publish_and_wait(command[0], command[1], retain=False):
        raise PairingError("the broker did not accept the command")
    return f"asked {device.name} to identify itself through Zigbee2MQTT"


def subscriptions_for(device_source: str, base: str) -> tuple[str, ...]:
    """What the pairing command listens to for one source."""
    if device_source == "zigbee2mqtt":
        return (f"{base}/#",)
    return (PAIRING_TOPIC, event_topic("+"))


def _as_record(device: NewDevice) -> DeviceRecord:
    return DeviceRecord(
        id=device.id,
        name=device.name,
        role=device.role,
        room=device.room,
        source=device.source,
        friendly_name=device.friendly_name,
        model=device.model,
        origin=device.origin,
        online=None,
        battery=None,
        last_seen=None,
        created_at=datetime.now(UTC),
    )


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        data: Any = load_json(payload)
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
