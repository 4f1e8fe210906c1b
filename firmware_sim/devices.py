"""Simulated native devices: each one its own MQTT client, speaking the public wire schema."""

import itertools
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import aiomqtt

from wire.event import EventType
from wire.schema import EventPayload, StatusPayload, event_topic, status_topic

QOS_AT_LEAST_ONCE = 1


class NativeDevice:
    """A device on the native schema: retained status with a last will, numbered events.

    Args:
        device_id: The id it was paired under.
        host: Broker address.
        port: Broker port.
        battery: Battery level it reports, in percent.
    """

    def __init__(self, device_id: str, host: str, port: int, *, battery: int = 90) -> None:
        self.device_id = device_id
        self.battery = battery
        self._seq = itertools.count(1)
        offline = StatusPayload(online=False).model_dump_json(exclude_none=True)
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=f"sim-{device_id}",
            will=aiomqtt.Will(status_topic(device_id), offline, qos=QOS_AT_LEAST_ONCE, retain=True),
        )

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        online = StatusPayload(online=True, battery=self.battery)
        await self._client.publish(
            status_topic(self.device_id),
            online.model_dump_json(exclude_none=True),
            qos=QOS_AT_LEAST_ONCE,
            retain=True,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    def next_seq(self) -> int:
        """Take the next sequence number (so a caller can send events out of order)."""
        return next(self._seq)

    def encode(
        self,
        event_type: EventType,
        *,
        value: float | None = None,
        ts: datetime | None = None,
        seq: int | None = None,
    ) -> tuple[str, bytes, bool]:
        """Topic, payload and retain flag of one event; status events become a status."""
        if event_type in ("device.online", "device.offline"):
            status = StatusPayload(online=event_type == "device.online", battery=self.battery)
            return status_topic(self.device_id), status.model_dump_json().encode(), True
        payload = EventPayload(
            type=event_type,
            seq=self.next_seq() if seq is None else seq,
            ts=ts or datetime.now(UTC),
            battery=self.battery,
            value=value,
        )
        return (
            event_topic(self.device_id),
            payload.model_dump_json(exclude_none=True).encode(),
            False,
        )

    async def send(self, event_type: EventType, *, value: float | None = None) -> None:
        """Publish one event now with QoS 1."""
        topic, payload, retain = self.encode(event_type, value=value)
        await self.publish(topic, payload, retain=retain)

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish raw bytes with QoS 1 (also for misbehaving-device scenarios)."""
        await self._client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE, retain=retain)
