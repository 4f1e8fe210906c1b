"""The heartbeat's body: the hub is alive, and its devices as the centre's home page shows them."""

from collections.abc import Sequence
from datetime import datetime
from importlib import metadata

from wire.devices import DeviceRecord
from wire.uplink import DeviceSummary, Heartbeat

MAX_DEVICES = 200


def hub_version() -> str:
    """The installed hub's version, as the heartbeat reports it."""
    try:
        return metadata.version("telecare-hub")[:32]
    except metadata.PackageNotFoundError:
        return "unknown"


def heartbeat(
    devices: Sequence[DeviceRecord], *, at: datetime, started_at: datetime, version: str
) -> Heartbeat:
    """A heartbeat naming each device with its battery, when last heard, and whether silent."""
    return Heartbeat(
        at=at,
        version=version,
        started_at=started_at,
        devices=tuple(
            DeviceSummary(
                id=d.id[:64],
                name=d.name[:100],
                role=d.role[:32],
                room=None if d.room is None else d.room[:64],
                battery=d.battery if d.battery is None else max(0, min(100, d.battery)),
                last_seen=d.last_seen,
                silent=d.online is False,
            )
            for d in devices[:MAX_DEVICES]
        ),
    )
