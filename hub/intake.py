"""From raw MQTT messages to events of registered devices."""

import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from drivers import native
from drivers.decoding import Announcement, Rejected, StatusReport
from hub.records import DeviceRecord
from hub.rejections import RejectLog
from hub.wire import PREFIX, InboundMessage
from rules.events import DeviceEvent

log = logging.getLogger("telecare.intake")
HUB_TOPICS = f"{PREFIX}/hub/"
RECENT_SEQS = 64


class Intake:
    """Decodes messages by their topic's driver and keeps only registered devices' events.

    A device's retained status becomes a `device.online` / `device.offline` event only when it
    changes, so replays of the same retained message on every reconnect are not news.
    """

    def __init__(self, devices: Iterable[DeviceRecord], rejects: RejectLog) -> None:
        self._online = {d.id: d.online for d in devices}
        self._recent: dict[str, deque[tuple[int, datetime | None]]] = {}
        self._announced: set[str] = set()
        self.rejects = rejects

    def decode(self, message: InboundMessage, *, received_at: datetime) -> DeviceEvent | None:
        """The event this message carries, or None if there is nothing to record."""
        decoded = self._by_driver(message, received_at)
        if decoded is None or isinstance(decoded, Announcement):
            if decoded is not None:
                self._note_announcement(decoded)
            return None
        device_id = decoded.device_id
        if device_id not in self._online:
            self.rejects.reject("unregistered_device", message.topic, f"{device_id} is not paired")
            return None
        if isinstance(decoded, StatusReport):
            return self._status_change(decoded, received_at)
        if self._repeated(decoded):
            self.rejects.reject("duplicate", message.topic, f"seq {decoded.seq} sent again")
            return None
        self._online[device_id] = decoded.type != "device.offline"
        return decoded

    def _repeated(self, event: DeviceEvent) -> bool:
        """Whether the device sent this very event (same seq and timestamp) just before.

        Devices resend when they miss an acknowledgement. A rebooted device starts its
        numbering again with new timestamps, so only an exact repeat counts.
        """
        if event.seq is None:
            return False
        key = (event.seq, event.ts)
        recent = self._recent.setdefault(event.device_id, deque(maxlen=RECENT_SEQS))
        if key in recent:
            return True
        recent.append(key)
        return False

    def _by_driver(
        self, message: InboundMessage, received_at: datetime
    ) -> DeviceEvent | StatusReport | Announcement | None:
        if message.topic.startswith(HUB_TOPICS):
            return None  # the hub's own status and incidents, echoed by the broker
        if not message.topic.startswith(f"{PREFIX}/"):
            self.rejects.reject("unknown_topic", message.topic, "no driver for this topic")
            return None
        decoded = native.decode(message, received_at=received_at)
        if isinstance(decoded, Rejected):
            self.rejects.reject(decoded.cause, message.topic, decoded.detail)
            return None
        return decoded

    def _status_change(self, report: StatusReport, received_at: datetime) -> DeviceEvent | None:
        if self._online[report.device_id] == report.online:
            return None
        self._online[report.device_id] = report.online
        return DeviceEvent(
            device_id=report.device_id,
            type="device.online" if report.online else "device.offline",
            received_at=received_at,
            battery=report.battery,
        )

    def _note_announcement(self, announcement: Announcement) -> None:
        device = announcement.payload
        if device.device_id in self._online or device.device_id in self._announced:
            return
        self._announced.add(device.device_id)
        log.info(
            "device %s (%s %s) is asking to be paired", device.device_id, device.type, device.model
        )
