"""From raw MQTT messages to events of registered devices."""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from drivers.decoding import (
    Announcement,
    Capabilities,
    Decoded,
    Driver,
    Health,
    Rejected,
    StatusReport,
    Unregistered,
)
from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.pipeline.rejections import RejectLog
from hub.pipeline.supervision import Supervisor
from hub.store.records import DeviceHealth, UnpairedSighting
from rules.engine import Engine
from rules.policy import DeviceInfo, RulesConfig
from wire.devices import DeviceRecord
from wire.event import DeviceEvent
from wire.schema import (
    PREFIX,
    CommandPayload,
    InboundMessage,
    command_topic,
    event_topic,
    status_topic,
)

log = logging.getLogger("telecare.intake")
HUB_TOPICS = f"{PREFIX}/hub/"
RECENT_SEQS = 64  # a device's last events remembered, to drop exact resends
MAX_UNPAIRED = 256  # distinct unregistered devices remembered per batch: bounded against floods
# Devices whose alarms are told at once. Fall detectors are not among them: a fall waits for its
# confirm window anyway, and movement heard before it in a batch must stay before it.
PRIORITY_ROLES = frozenset({"pendant", "pull_cord", "smoke"})


@dataclass(slots=True)
class Sightings:
    """Who was heard since the last commit: check-ins of registered devices, and strangers."""

    health: dict[str, DeviceHealth] = field(default_factory=dict)
    unpaired: dict[tuple[str, str], UnpairedSighting] = field(default_factory=dict)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Intake:
    """Routes each message to the driver that owns its topic; keeps registered devices' events.

    A device's status becomes a `device.online` / `device.offline` event only when it changes,
    so replays of the same retained message on every reconnect are not news; a device believed
    offline that is heard from again is back online.
    """

    def __init__(
        self,
        devices: Iterable[DeviceRecord],
        rejects: RejectLog,
        drivers: Sequence[Driver] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._drivers: tuple[Driver, ...] = (
            tuple(drivers) if drivers is not None else (NativeDriver(),)
        )
        self._online: dict[str, bool | None] = {}
        self._devices: dict[str, DeviceRecord] = {}
        self._uncommandable: set[str] = set()
        self._recent: dict[str, dict[tuple[int, datetime | None], None]] = {}
        self._announced: set[str] = set()
        self._sightings = Sightings()
        self._priority: frozenset[str] = frozenset()
        self._supervisor = supervisor
        self.rejects = rejects
        self.reload(devices)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """Every driver's topic filters."""
        return tuple(topic for driver in self._drivers for topic in driver.subscriptions)

    @property
    def devices(self) -> list[DeviceRecord]:
        """The registered devices."""
        return list(self._devices.values())

    def reload(self, devices: Iterable[DeviceRecord]) -> None:
        """Take a new registry: paired, renamed or removed devices."""
        devices = list(devices)
        self._online = {d.id: self._online.get(d.id, d.online) for d in devices}
        self._devices = {d.id: d for d in devices}
        self._priority = self._priority_topics(devices)
        for driver in self._drivers:
            driver.register(devices)
        if self._supervisor is not None:
            self._supervisor.register(devices)

    def is_priority(self, topic: str) -> bool:
        """Whether `topic` is one of a registered pendant's, pull-cord's or smoke alarm's own.

        Every topic a device speaks on (events and status alike), so that its own messages
        keep their order.
        """
        return topic in self._priority

    def _priority_topics(self, devices: list[DeviceRecord]) -> frozenset[str]:
        alarms = [d for d in devices if d.role in PRIORITY_ROLES]
        native = [d.id for d in alarms if d.source == "native"]
        topics = {*map(event_topic, native), *map(status_topic, native)}
        names = [d.friendly_name for d in alarms if d.source == "zigbee2mqtt" and d.friendly_name]
        for driver in self._drivers:
            if isinstance(driver, Zigbee2MqttDriver):
                for name in names:
                    topics.update((f"{driver.base}/{name}", f"{driver.base}/{name}/availability"))
        return frozenset(topics)

    def overdue(self, now: datetime) -> list[DeviceEvent]:
        """`device.offline` for each device that has just missed its check-in deadline."""
        if self._supervisor is None:
            return []
        events: list[DeviceEvent] = []
        for device_id in self._supervisor.overdue(now):
            event = self._status_change(device_id, False, None, now)
            if event is not None:
                log.warning("%s missed its check-in deadline: offline", device_id)
                events.append(event)
        return events

    def shift_deadlines(self, step: timedelta) -> None:
        """The wall clock stepped: check-in deadlines keep their remaining time."""
        if self._supervisor is not None:
            self._supervisor.shift(step)

    def restart_supervision(self, at: datetime) -> None:
        """Count check-in deadlines afresh from `at` (the simulation's first moment)."""
        if self._supervisor is not None:
            self._supervisor.restart(at)

    def take_sightings(self) -> Sightings:
        """What was heard since the last call, for the store."""
        taken, self._sightings = self._sightings, Sightings()
        return taken

    def decode(self, message: InboundMessage, *, received_at: datetime) -> list[DeviceEvent]:
        """The events this message carries (often none)."""
        if message.topic.startswith(HUB_TOPICS):
            return []  # the hub's own status and incidents, echoed by the broker
        driver = next((d for d in self._drivers if d.owns(message.topic)), None)
        if driver is None:
            self.rejects.reject("unknown_topic", message.topic, "no driver for this topic")
            return []
        try:
            decoded = driver.decode(message, received_at=received_at)
        except RecursionError:
            # json refuses nesting deeper than Python's recursion limit this way, not with a
            # ValueError: a few kilobytes of "[[[[" must not stop the hub.
            self.rejects.reject("malformed_json", message.topic, "JSON nested too deeply")
            return []
        events: list[DeviceEvent] = []
        for item in decoded:
            event = self._accept(item, message.topic, received_at)
            if event is not None:
                events.append(event)
        return events

    def command(self, device_id: str, payload: CommandPayload) -> tuple[str, bytes] | None:
        """Topic and body that make a registered device carry out a hub command.

        A native device takes the command as it is; a Zigbee2MQTT device gets the `/set` its
        model's exposes allow, or nothing (counted as `command_unsupported`, logged once per
        device); a wired (GPIO) device shows the incident on the hub's own status light.
        """
        found = self.routed(device_id, payload)
        return found if isinstance(found, tuple) else None

    def routed(self, device_id: str, payload: CommandPayload) -> tuple[str, bytes] | str:
        """Like `command`, but says why a device cannot be asked instead of giving None."""
        device = self._devices.get(device_id)
        if device is None:
            return "no such device"
        if device.source == "native":
            return command_topic(device_id), payload.model_dump_json(exclude_none=True).encode()
        if device.source != "zigbee2mqtt":
            return f"{device.name} is wired to the hub: there is nothing to ask"
        if device.friendly_name is None:
            return f"{device.name} has no Zigbee2MQTT friendly name"
        zigbee = next((d for d in self._drivers if isinstance(d, Zigbee2MqttDriver)), None)
        found = zigbee.command(device.friendly_name, payload.command) if zigbee else None
        if found is not None:
            return found
        listed = zigbee is not None and device.friendly_name in zigbee.bridge_devices
        detail = (
            f"{device.name} exposes nothing to {payload.command} with"
            if listed
            else f"{device.name} is not listed by Zigbee2MQTT yet"
        )
        self.rejects.reject("command_unsupported", device_id, detail)
        return detail

    def _source(self, device_id: str) -> str:
        device = self._devices.get(device_id)
        return device.source if device is not None else "native"

    def _note_capabilities(self, item: Capabilities) -> None:
        self._sightings.commands[item.device_id] = item.commands
        if item.commands or item.device_id in self._uncommandable:
            return
        self._uncommandable.add(item.device_id)
        device = self._devices[item.device_id]
        log.warning(
            "%s (%s, model %s) exposes nothing the hub can command: no reassurance light or"
            " chime on it",
            device.name,
            device.id,
            item.model or device.model or "unknown",
        )

    def _accept(self, item: Decoded, topic: str, received_at: datetime) -> DeviceEvent | None:
        if isinstance(item, Rejected):
            self.rejects.reject(item.cause, topic, item.detail)
            return None
        if isinstance(item, Announcement):
            self._note_announcement(item, received_at)
            return None
        if isinstance(item, Unregistered):
            self._note_stranger(item, topic, received_at)
            return None
        if item.device_id not in self._online:
            self.rejects.reject("unregistered_device", topic, f"{item.device_id} is not paired")
            return None
        if isinstance(item, Capabilities):
            self._note_capabilities(item)
            return None
        return self._accept_registered(item, received_at)

    def _accept_registered(
        self, item: DeviceEvent | StatusReport | Health, received_at: datetime
    ) -> DeviceEvent | None:
        says_offline = (isinstance(item, StatusReport) and not item.online) or (
            isinstance(item, DeviceEvent) and item.type == "device.offline"
        )
        if self._supervisor is not None and not says_offline:
            self._supervisor.heard(item.device_id, received_at)
        if isinstance(item, Health):
            return self._heard(item, received_at)
        if isinstance(item, StatusReport):
            return self._status_change(item.device_id, item.online, item.battery, received_at)
        if self._repeated(item):
            self.rejects.reject("duplicate", item.device_id, f"seq {item.seq} sent again")
            return None
        self._online[item.device_id] = item.type != "device.offline"
        return item

    def _repeated(self, event: DeviceEvent) -> bool:
        """Whether the device sent this very event (same seq and timestamp) just before.

        Devices resend when they miss an acknowledgement. A rebooted device starts its
        numbering again with new timestamps, so only an exact repeat counts.
        """
        if event.seq is None:
            return False
        key = (event.seq, event.ts)
        recent = self._recent.setdefault(event.device_id, {})  # oldest first
        if key in recent:
            return True
        recent[key] = None
        if len(recent) > RECENT_SEQS:
            del recent[next(iter(recent))]
        return False

    def _heard(self, health: Health, received_at: datetime) -> DeviceEvent | None:
        self._sightings.health[health.device_id] = DeviceHealth(
            device_id=health.device_id,
            at=received_at,
            battery=health.battery,
            linkquality=health.linkquality,
        )
        if self._online.get(health.device_id) is False:
            return self._status_change(health.device_id, True, health.battery, received_at)
        return None

    def _status_change(
        self, device_id: str, online: bool, battery: int | None, received_at: datetime
    ) -> DeviceEvent | None:
        if self._online[device_id] == online:
            return None
        self._online[device_id] = online
        return DeviceEvent.model_validate(
            {
                "device_id": device_id,
                "type": "device.online" if online else "device.offline",
                "received_at": received_at,
                "source": self._source(device_id),
                "battery": battery,
            }
        )

    def _note_stranger(self, item: Unregistered, topic: str, received_at: datetime) -> None:
        if item.spoke:
            self.rejects.reject("unregistered_device", topic, f"{item.address[:64]} is not paired")
        key = (item.source, item.address)
        earlier = self._sightings.unpaired.get(key)
        if earlier is not None or len(self._sightings.unpaired) < MAX_UNPAIRED:
            self._sightings.unpaired[key] = UnpairedSighting(
                source=item.source,
                address=item.address,
                model=item.model,
                at=received_at,
                spoke=item.spoke or (earlier is not None and earlier.spoke),
            )

    def _note_announcement(self, announcement: Announcement, received_at: datetime) -> None:
        device = announcement.payload
        if device.device_id in self._online:
            return
        key = ("native", device.device_id)
        if key in self._sightings.unpaired or len(self._sightings.unpaired) < MAX_UNPAIRED:
            self._sightings.unpaired[key] = UnpairedSighting(
                source="native", address=device.device_id, model=device.model, at=received_at
            )
        if device.device_id in self._announced:
            return
        self._announced.add(device.device_id)
        log.info(
            "device %s (%s %s) is asking to be paired", device.device_id, device.type, device.model
        )


def device_infos(devices: Sequence[DeviceRecord]) -> dict[str, DeviceInfo]:
    """What the engine's alert texts need to know of each registered device."""
    return {
        d.id: DeviceInfo.model_validate({"name": d.name, "role": d.role, "room": d.room})
        for d in devices
    }


def engine_for(rules: RulesConfig, devices: Sequence[DeviceRecord]) -> Engine:
    """The engine for `rules`, with what it needs to know of the registered `devices`."""
    return Engine(rules.model_copy(update={"devices": device_infos(devices)}))
